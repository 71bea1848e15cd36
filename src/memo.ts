/** `build` memoised per argument object (a spec is built once and reused for every evaluation). */
export function memoPerObject<K extends object, V>(build: (k: K) => V): (k: K) => V {
  const cache = new WeakMap<K, V>();
  return (k) => {
    let v = cache.get(k);
    if (v === undefined) cache.set(k, (v = build(k)));
    return v;
  };
}
