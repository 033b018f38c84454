/**
 * A keepalived.conf as keepalived reads it: `include`s expanded in place, comments and line
 * continuations gone, every keyword kept with the file and line it came from.
 */

export interface ConfNode {
  keyword: string;
  /** Words after the keyword on its line, quotes removed (keepalived's own tokenisation). */
  args: string[];
  /** Present when the keyword opened a `{ … }` block (possibly empty). */
  children?: ConfNode[];
  file: string;
  line: number;
  /**
   * `@ID` or `@^ID` when the line is conditional configuration kept because no config-id was
   * chosen (keepalived keeps it only on the director whose config-id is, or is not, ID).
   */
  condition?: string;
}

/** Something the parser itself could not make sense of (unbalanced braces, unreadable include, …). */
export interface ConfProblem {
  file: string;
  line: number;
  message: string;
  fix?: string;
  /** 'warning' for what keepalived reports but still runs with (a missing plain include). */
  severity?: 'error' | 'warning';
}

export interface ParsedConf {
  /** Top-level nodes, in order, with includes spliced in. */
  nodes: ConfNode[];
  /** Every file read, the entry file first. */
  files: string[];
  problems: ConfProblem[];
}
