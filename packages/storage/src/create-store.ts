import type { StorageConfig } from '@botbackup/core';
import type { BackupStore } from './backup-store.js';
import { LocalStore } from './local-store.js';

/** Constructors of every backend, by config `type`. Explicit: nothing registers itself. */
const constructors: { [T in StorageConfig['type']]: (config: Extract<StorageConfig, { type: T }>) => BackupStore } = {
  local: (config) => new LocalStore({ name: config.name, path: config.path }),
};

/** Builds the store a storage target of the config describes. */
export function createStore(config: StorageConfig): BackupStore {
  return constructors[config.type](config);
}
