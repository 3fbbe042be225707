/** What an engine operation is doing, for progress bars and job progress. */
export interface ProgressEvent {
  phase: 'snapshot' | 'pack' | 'read' | 'verify' | 'integrity' | 'copy';
  /** Bytes (or pages for `snapshot`) done in this phase. */
  done: number;
  /** Total for this phase, when known. */
  total: number | undefined;
  /** What is being worked on, e.g. a database name. */
  subject?: string;
}

export type ProgressListener = (event: ProgressEvent) => void;
