package dev.thermocline.bench.flink;

import java.util.HashSet;

/**
 * One area's window so far: Welford's running mean and M2, min, max, the distinct devices, and the
 * CloudEvent ids seen (a duplicate id counts once, docs/contract.md), as the processor's accumulator.ts.
 */
public final class WindowAccumulator {
  public long count;
  public double mean;
  public double m2;
  public double min = Double.POSITIVE_INFINITY;
  public double max = Double.NEGATIVE_INFINITY;
  public HashSet<String> devices = new HashSet<>();
  public HashSet<String> ids = new HashSet<>();

  public WindowAccumulator() {}

  /** Welford: δ = x − mean; mean += δ/n; M2 += δ·(x − mean). A reading whose id was seen is dropped. */
  WindowAccumulator add(Reading reading) {
    if (!ids.add(reading.id)) {
      FlinkPeer.DUPLICATES.increment();
      return this;
    }
    double x = reading.celsius;
    count++;
    double delta = x - mean;
    mean += delta / count;
    m2 += delta * (x - mean);
    if (x < min) min = x;
    if (x > max) max = x;
    devices.add(reading.device);
    return this;
  }
}
