/** A started role (server, scheduler, agent or dev stack) as its caller holds it. */
export interface Running {
  /**
   * The address this process serves: the API, or with role scheduler only its /healthz,
   * /readyz and /metrics. Undefined for an agent.
   */
  url: string | undefined;
  close(): Promise<void>;
}
