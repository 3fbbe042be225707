#!/usr/bin/env node
// Committed entry point: npm links bins at install time, before `prepare` has built dist/, so the
// link must point at a file that exists in a fresh clone. The command itself is in src/bin.ts,
// run from its bundle (scripts/bundle.mjs: a command starts in about half the CPU).
import '../dist/bundle/bin.js';
