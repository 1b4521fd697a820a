// Numeric command-line options for the benchmark scripts: one rule for all of them.

/** opt[name] as a number in [min, max], or a one-line error and exit 2. */
export function numberOption(opt, name, min, max) {
  const v = Number(opt[name]);
  if (!Number.isFinite(v) || v < min || v > max) {
    console.error(`--${name} must be a number in [${min}, ${max}]`);
    process.exit(2);
  }
  return v;
}

/** The servers `--only a,b` names (all of `known` without it); an unknown name is a one-line error and exit 2. */
export function serverList(only, known) {
  const wanted = only ? only.split(',').map((s) => s.trim()).filter(Boolean) : known;
  for (const w of wanted) {
    if (!known.includes(w)) {
      console.error(`--only: unknown server "${w}" (known: ${known.join(', ')})`);
      process.exit(2);
    }
  }
  return wanted;
}
