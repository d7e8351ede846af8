// LOGFERRY_SINK → the protocol's Sink.
import type { Config } from '../config/config.js';
import { ElasticsearchSink } from './elasticsearch.js';
import { LokiSink } from './loki.js';
import { NdjsonSink } from './ndjson.js';
import { OtlpSink } from './otlp.js';
import type { Sink } from './sink.js';
import { SplunkSink } from './splunk.js';

/** `labels`: the static labels merged with the Kubernetes ones (the pipeline merges them once). */
export function createSink(cfg: Config, version: string, labels: Record<string, string>): Sink {
  switch (cfg.sink) {
    case 'ndjson':
      return new NdjsonSink(cfg.endpoint, labels);
    case 'loki':
      return new LokiSink({
        endpoint: cfg.endpoint,
        labels,
        tenant: cfg.lokiTenant,
        structuredMetadata: cfg.lokiStructuredMetadata,
      });
    case 'elasticsearch':
      return new ElasticsearchSink({ endpoint: cfg.endpoint, labels, index: cfg.esIndex });
    case 'otlp':
      return new OtlpSink({
        endpoint: cfg.endpoint,
        labels,
        encoding: cfg.otlpEncoding,
        version,
      });
    case 'splunk':
      return new SplunkSink({
        endpoint: cfg.endpoint,
        labels,
        ack: cfg.splunkAck,
        ackTimeoutMs: cfg.splunkAckTimeoutMs,
        index: cfg.splunkIndex,
        sourcetype: cfg.splunkSourcetype,
      });
  }
}
