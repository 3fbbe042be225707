export { renderStarterConfig, scanBotDir } from './init-config.js';
export { checkSourceRoots, loadConfig } from './load-config.js';
