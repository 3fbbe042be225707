import v8 from 'node:v8';

// Keep V8's young generation at its starting size. A backup or restore streams a GiB through
// short-lived chunk objects; left to grow (doubling up to 16 MiB per semi-space) the young
// generation of the main thread held 51 MiB for 15 MiB of live objects, and the chunks' buffers
// waited for the rarer scavenges of a big young generation before their memory was freed
// (docs/benchmarks.md, "Issue 18's run", Memory). Scavenges of a small young generation are cheap: almost
// nothing in it survives. The flag is read whenever the heap would grow, so it applies to this
// thread and to every worker thread started afterwards. It must run before the CLI's modules are
// loaded: parsing them alone grows the young generation to 8 MiB.
export function setV8Flags(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
