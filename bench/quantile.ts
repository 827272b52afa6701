/** The q-quantile (0..1) of ascending values, as the benchmarks report them (no interpolation). */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
