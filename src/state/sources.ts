/** Where kawatch's view of keepalived comes from, one name per source (and per `kawatch_source_*` series). */
export const SOURCE_NAMES = ['hook', 'fifo', 'netlink', 'dump', 'process'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];
