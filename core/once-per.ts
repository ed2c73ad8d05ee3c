/**
 * `build` run once per key object, its result kept as long as the key lives (a WeakMap, so a
 * key that goes away takes its value with it). What an isolate keeps between requests per
 * binding: the drizzle instance per D1 binding, prepared statements per drizzle instance.
 */
export function oncePer<K extends object, V>(build: (key: K) => V): (key: K) => V {
  const built = new WeakMap<K, V>();
  return (key) => {
    let value = built.get(key);
    if (value === undefined) {
      value = build(key);
      built.set(key, value);
    }
    return value;
  };
}
