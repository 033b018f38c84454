/**
 * Records keyed by names that come from outside (instance, group, peer, node names): without a
 * prototype, `__proto__`, `constructor` or `toString` are names like any other, never inherited
 * members. Lookups go through `entryOf`, which reads own properties only, so even a record built
 * elsewhere (parsed JSON) cannot answer with something nobody put there.
 */
export type Dict<T> = Readonly<Record<string, T>>;

export function emptyDict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

export function dictFrom<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const dict = emptyDict<T>();
  // Plain assignment is safe here: with no prototype there is no `__proto__` setter to reach.
  for (const [key, value] of entries) dict[key] = value;
  return dict;
}

export function entryOf<T>(dict: Dict<T>, key: string): T | undefined {
  return Object.hasOwn(dict, key) ? dict[key] : undefined;
}

/** A copy of `dict` with `key` set to `value`. */
export function withEntry<T>(dict: Dict<T>, key: string, value: T): Dict<T> {
  const copy = dictFrom(Object.entries(dict));
  copy[key] = value;
  return copy;
}
