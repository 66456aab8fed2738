/** The ActiveCampaign adapter's public surface. */
export * from './batches';
export * from './client';
export * from './clock';
export * from './errors';
export * from './host';
export * from './rateBudget';
export * from './reconcile';
export * from './retryTiming';
export * from './schemas';
export * from './tableRateBudget';
