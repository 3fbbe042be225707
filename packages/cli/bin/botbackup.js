#!/usr/bin/env node
// Committed entry point: npm links bins at install time, before `prepare` has built dist/, so the
// link must point at a file that exists in a fresh clone. The command itself is in src/bin.ts.
import '../dist/bin.js';
