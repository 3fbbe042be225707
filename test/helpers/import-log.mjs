// Preloaded into a process (`node --import=<this file's URL>`, e.g. in NODE_OPTIONS) to record which
// modules it imports: a resolve hook (module.register, Node 20.6+) appends the URL of every module
// resolved through the ESM loader to the file $BOTBACKUP_IMPORT_LOG, one a line. Packages that are
// CommonJS inside (the AWS SDK, ioredis) show up with the URL of their entry point, which ESM imports.
import { register } from 'node:module';

const file = process.env.BOTBACKUP_IMPORT_LOG;
if (!file) throw new Error('import-log.mjs needs $BOTBACKUP_IMPORT_LOG');
register('./import-log-hooks.mjs', import.meta.url, { data: { file } });
