/**
 * A cron expression in words, for the schedules panel: `every day at 02:00`, `every 15 minutes`,
 * `Monday to Friday at 03:30`, `on day 1 of every month at 04:00`. Pure. Only the shapes schedules
 * usually take are put in words; anything else (lists of days of the month, month fields, steps
 * in the hour field with a range...) gives undefined, and the page shows the expression alone.
 * Five fields (minute hour day-of-month month day-of-week), or six with seconds first (then only
 * when the seconds field is 0).
 */
export function describeCron(cron: string): string | undefined {
  let fields = cron.trim().split(/\s+/);
  if (fields.length === 6) {
    if (fields[0] !== '0') return undefined;
    fields = fields.slice(1);
  }
  if (fields.length !== 5) return undefined;
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [string, string, string, string, string];
  if (month !== '*') return undefined;
  const days = describeDays(dayOfMonth, dayOfWeek);
  if (days === undefined) return undefined;

  if (hour === '*') {
    // Within every hour: every minute, every N minutes, or at given minutes.
    const within = minute === '*' ? 'every minute' : stepOf(minute) !== undefined ? `every ${stepOf(minute)} minutes` : undefined;
    if (within) return days === 'every day' ? within : `${within}, ${days}`;
    const minutes = numbers(minute, 0, 59);
    if (!minutes) return undefined;
    const at = `every hour at minute ${joinWords(minutes.map(String))}`;
    return days === 'every day' ? at : `${at}, ${days}`;
  }
  const minutes = numbers(minute, 0, 59);
  if (!minutes || minutes.length !== 1) return undefined;
  const m = minutes[0]!;
  const hourStep = stepOf(hour);
  if (hourStep !== undefined) {
    const at = `every ${hourStep} hours at minute ${m}`;
    return days === 'every day' ? at : `${at}, ${days}`;
  }
  const hours = numbers(hour, 0, 23);
  if (!hours) return undefined;
  return `${days} at ${joinWords(hours.map((h) => `${pad(h)}:${pad(m)}`))}`;
}

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** `every day`, `every Monday`, `Monday to Friday`, `on Monday and Thursday`, `on day 1 of every month`; undefined for other shapes. */
function describeDays(dayOfMonth: string, dayOfWeek: string): string | undefined {
  if (dayOfMonth === '*' && (dayOfWeek === '*' || dayOfWeek === '?')) return 'every day';
  if (dayOfMonth !== '*' && dayOfMonth !== '?') {
    if (dayOfWeek !== '*' && dayOfWeek !== '?') return undefined;
    const days = numbers(dayOfMonth, 1, 31);
    return days ? `on day ${joinWords(days.map(String))} of every month` : undefined;
  }
  const range = /^([0-7])-([0-7])$/.exec(dayOfWeek);
  if (range) {
    const [from, to] = [Number(range[1]) % 7, Number(range[2]) % 7];
    return `${DAY_NAMES[from]} to ${DAY_NAMES[to]}`;
  }
  const days = numbers(dayOfWeek, 0, 7);
  if (!days) return undefined;
  const names = [...new Set(days.map((d) => d % 7))].map((d) => DAY_NAMES[d]!);
  return names.length === 1 ? `every ${names[0]}` : `on ${joinWords(names)}`;
}

/** N of `*\/N` (N > 1), else undefined. */
function stepOf(field: string): number | undefined {
  const match = /^\*\/(\d+)$/.exec(field);
  const n = match ? Number(match[1]) : NaN;
  return n > 1 ? n : undefined;
}

/** The values of a comma-separated list of plain numbers within [min, max], ascending; undefined for anything else. */
function numbers(field: string, min: number, max: number): number[] | undefined {
  if (!/^\d+(,\d+)*$/.test(field)) return undefined;
  const values = field.split(',').map(Number);
  if (values.some((v) => v < min || v > max)) return undefined;
  return [...new Set(values)].sort((a, b) => a - b);
}

/** `a`, `a and b`, `a, b and c`. */
function joinWords(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
