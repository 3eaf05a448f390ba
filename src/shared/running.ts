/** A started role (server, scheduler, agent or dev stack) as its caller holds it. */
export interface Running {
  /**
   * The address this process serves: the API, or with role scheduler only its /healthz,
   * /readyz and /metrics. Undefined for an agent.
   */
  url: string | undefined;
  close(): Promise<void>;
  /** Settles with an exit code when the role stops by itself (an agent whose node was removed). */
  ended?: Promise<number>;
}
