-- Slow channels get a lane of their own. A channel whose endpoint took
-- longer than webhook.c's SLOW_MS to answer (or to fail) is marked slow until
-- slow_until; its deliveries are then claimed only by the slow lane, so an
-- endpoint that never answers holds up no round of other channels'
-- deliveries. A channel with no slow delivery for the hold goes back.
ALTER TABLE channel ADD COLUMN slow_until timestamptz;
CREATE INDEX channel_slow ON channel (slow_until) WHERE slow_until IS NOT NULL;
-- The slow lane's claim walks a slow channel's due deliveries, not every
-- delivery the channel ever had.
CREATE INDEX delivery_channel_due ON delivery (channel_id, next_attempt_at) WHERE status = 'pending';
