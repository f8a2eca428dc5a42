import type { NatsConnection } from "@nats-io/nats-core";
import { type HeaderList, headerValue, MeshHeader } from "../protocol/index.js";

/**
 * Adds the provenance headers to a response: the request id (the caller's `x-request-id`, else one
 * generated), the service, the answering instance, and the NATS server and cluster it is connected to.
 */
export function addProvenance(
  headers: HeaderList,
  requestHeaders: HeaderList,
  fallbackId: () => string,
  service: string,
  instance: string,
  nc: NatsConnection,
): void {
  if (headerValue(headers, MeshHeader.RequestId) === undefined) {
    headers.push(MeshHeader.RequestId, headerValue(requestHeaders, MeshHeader.RequestId) ?? fallbackId());
  }
  headers.push(MeshHeader.Service, service, MeshHeader.Instance, instance);
  const info = nc.info;
  if (info?.server_name) headers.push(MeshHeader.Server, info.server_name);
  if (info?.cluster) headers.push(MeshHeader.Cluster, info.cluster);
}
