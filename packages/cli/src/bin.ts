#!/usr/bin/env node
import { setV8Flags } from './v8-flags.js';

// Before the rest of the CLI is even parsed (a static import would load it first; see v8-flags.ts).
setV8Flags();
// Loading the CLI takes a moment: an interrupt meanwhile has stopped nothing yet, and says so
// like any other (main.ts takes over, with what each command keeps, before it does anything).
const early = () => {
  process.stderr.write('botbackup: Interrupted; nothing was changed.\n');
  process.exit(130);
};
process.once('SIGINT', early);
process.once('SIGTERM', early);
const { main } = await import('./main.js');
process.off('SIGINT', early);
process.off('SIGTERM', early);

// The AWS SDK warns on every run under Node 20 that its releases after January 2027 will need
// Node 22. The version botbackup pins supports Node 20, and a user can't act on the warning.
// The SDK reads only this variable, so the command, which owns its process, sets it (unless the
// user did); the storage library that creates the S3 clients must leave its host's env alone.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.exitCode = await main(process.argv.slice(2));
