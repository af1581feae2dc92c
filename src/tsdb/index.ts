/** The embedded time-series store: storage, querier, sampler and restart continuity. */
export { Tsdb, type TsdbOptions, type Sample, type AppendResult, type MetricMetadata, type TsdbStats } from './store.js';
export { TsdbQuerier } from './querier.js';
export { Sampler, buildLabelSets, type SamplerOptions, type SampleTick } from './sampler.js';
export { restoreInto, ingestKey, type RestoreReport } from './restore.js';
export { encodeChunk, decodeChunk, validTimestamp } from './chunk.js';
