import { Lexer, YAMLParseError } from 'yaml';
import { ConfigError, ConfigSyntaxError } from '../errors.js';

/**
 * The error for text the `yaml` library could not parse: where it is (line and column, 1-based)
 * and what is wrong, in a sentence. The library's own message also quotes the lines around the
 * place; that goes, since the error is one line, and a few of its messages are said more plainly.
 */
export function yamlSyntaxError(error: unknown, text: string, file: string): ConfigError {
  if (!(error instanceof YAMLParseError) || !error.linePos) {
    // Errors without a place (an alias to an anchor that is never set...): the library's sentence.
    return new ConfigError(file, undefined, `is not valid YAML: ${firstLine(error)}`, { cause: error });
  }
  const { line, col } = error.linePos[0];
  const at = { line, column: col };
  let problem = firstLine(error).replace(/ at line \d+, column \d+:?$/, '');
  if (/^(All mapping items must start at the same column|All sequence items must start at the same column|Sequence item without - indicator)/.test(problem)) {
    // The library names the structure it was building; what the user did is indent a line wrongly.
    const lineText = text.split('\n')[line - 1] ?? '';
    at.column = lineText.length - lineText.trimStart().length + 1;
    problem = 'bad indentation: the keys of one mapping, and the items of one list, must start in the same column';
  }
  switch (error.code) {
    case 'TAB_AS_INDENT':
      problem = 'a tab is used for indentation; YAML indents with spaces only';
      break;
    case 'DUPLICATE_KEY': {
      const key = /^\s*("[^"]*"|'[^']*'|[^:#\n]*?)\s*:/.exec(text.slice(error.pos[0]))?.[1];
      problem = key ? `the key ${quoteKey(key)} is set twice in the same mapping` : 'a key is set twice in the same mapping';
      break;
    }
    case 'MISSING_CHAR': {
      // The library notices an unclosed quote only where the text ends; the quote that opened it is more useful.
      const quote = /^Missing closing (["'])quote/.exec(problem)?.[1];
      const opened = quote === undefined ? undefined : unclosedQuote(text, quote);
      if (opened) {
        Object.assign(at, lineColumn(text, opened));
        problem = `the ${quote}quoted string that starts here is never closed (a closing ${quote} is missing)`;
      }
      break;
    }
  }
  return new ConfigSyntaxError(file, at.line, at.column, lowerFirst(problem.replace(/\.$/, '')), { cause: error });
}

function firstLine(error: unknown): string {
  return ((error as Error)?.message ?? String(error)).split('\n')[0]!.trim();
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function quoteKey(key: string): string {
  return /^["']/.test(key) ? key : `"${key}"`;
}

/** The offset of the last quoted scalar that opens with `quote` and is never closed, if the lexer finds one. */
function unclosedQuote(text: string, quote: string): number | undefined {
  let offset = 0;
  let found: number | undefined;
  for (const token of new Lexer().lex(text)) {
    // The lexer marks documents, scalars and flow ends with control characters that are not in the text.
    if (token.length === 1 && /[\x02\x18\x1f]/.test(token)) continue;
    if (token.startsWith(quote) && (token.length === 1 || !token.trimEnd().endsWith(quote))) found = offset;
    offset += token.length;
  }
  return found;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}
