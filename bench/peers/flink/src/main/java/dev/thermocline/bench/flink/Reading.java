package dev.thermocline.bench.flink;

/**
 * A dev.thermocline.reading.v1 event as the windows need it: the `data` fields {"area","device","celsius"},
 * the CloudEvent id (header ce_id, for duplicates) and its event time (header ce_time, epoch ms).
 * A Flink POJO (public fields, no-arg constructor), so it crosses keyBy with Flink's own serializer.
 */
public final class Reading {
  public String id;
  public String area;
  public String device;
  public double celsius;
  public long timeMs;

  public Reading() {}
}
