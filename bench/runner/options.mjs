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
