/** fleetcmd's version, reported by agents as AgentVersion. Keep in step with package.json. */
export const VERSION = '0.1.0';
