// How a writer process used by tests learns to stop: SIGTERM, or its parent gone (a test that dies
// without stopping its writer must not leave it running). Returns a function that says whether to stop.
export function stopSignal() {
  let stop = false;
  process.on('SIGTERM', () => (stop = true));
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop = true;
  }, 500).unref();
  return () => stop;
}
