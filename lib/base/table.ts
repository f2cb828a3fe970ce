/** Aligned columns for terminal listings (ps, net ls); the last column is not padded. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((_, i) => Math.max(header[i].length, ...rows.map((row) => row[i].length)));
  return (
    [header, ...rows]
      .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '))
      .join('\n') + '\n'
  );
}
