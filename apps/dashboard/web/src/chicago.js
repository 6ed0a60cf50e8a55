// Simplified, approximate Chicago city limits (lat, lon), drawn when no map tiles are reachable so the
// heat map still has a recognisable shape. Hand-simplified to ~35 vertices: not for measuring anything.
export const CHICAGO_OUTLINE = [
  [42.023, -87.667], [42.019, -87.709], [41.998, -87.711], [41.998, -87.776], [42.012, -87.807],
  [41.990, -87.840], [42.004, -87.903], [42.001, -87.940], [41.958, -87.940], [41.957, -87.880],
  [41.953, -87.807], [41.910, -87.806], [41.910, -87.775], [41.866, -87.775], [41.866, -87.745],
  [41.800, -87.742], [41.799, -87.802], [41.765, -87.801], [41.765, -87.741], [41.735, -87.742],
  [41.735, -87.719], [41.680, -87.720], [41.680, -87.682], [41.645, -87.662], [41.645, -87.525],
  [41.708, -87.525], [41.735, -87.535], [41.760, -87.553], [41.800, -87.580], [41.850, -87.608],
  [41.880, -87.612], [41.900, -87.622], [41.950, -87.640], [41.980, -87.652],
];

// The tile covering the city at zoom 10, used to probe whether tiles are reachable at all.
export const PROBE_TILE = { z: 10, x: 262, y: 380 };
