/** One keepalived build as the version-matrix lab test measured it: what each of its interfaces gave kawatch. */
export interface Measured {
  flavour: string;
  hook: string;
  fifo: string;
  json: string;
  text: string;
  trackFile: string;
  scripts: string;
  syncGroups: string;
}

const COLUMNS: [keyof Measured, string][] = [
  ['flavour', 'keepalived'],
  ['hook', 'hook'],
  ['fifo', 'notify FIFO'],
  ['json', 'JSON dump'],
  ['text', 'text dumps'],
  ['trackFile', 'track_file'],
  ['scripts', 'vrrp_script status'],
  ['syncGroups', 'sync-group state from'],
];

/** The measured matrix as a Markdown table, one row per build, in the order given. */
export function renderMatrix(rows: readonly Measured[]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(COLUMNS.map(([, title]) => title)), line(COLUMNS.map(() => '---')), ...rows.map((r) => line(COLUMNS.map(([key]) => r[key])))].join('\n') + '\n';
}
