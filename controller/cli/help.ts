/** The "Examples:" block every command's --help ends with. */

/** [command line, what it does] pairs as a help section. */
export function examples(list: readonly (readonly [string, string])[]): string {
  const lines = ['', 'Examples:'];
  for (const [cmd, what] of list) lines.push(`  $ ${cmd}`, `      ${what}`);
  return lines.join('\n');
}
