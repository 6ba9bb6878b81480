package dev.thermocline.bench.flink;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;

/**
 * Thermocline's stream time as a watermark: the largest event time seen minus the grace, moved on
 * with the record that moves it (punctuated), not on Flink's periodic timer. With the periodic
 * generator (forBoundedOutOfOrderness, every 200 ms of wall-clock time) whether a reading is late
 * would depend on how fast the records were read; this way a window fires when the first reading
 * at or past its end + grace is read, and a reading of a fired window is late, as in the processor.
 * Per Kafka partition (the source keeps one generator per split); Flink then takes the smallest.
 */
final class StreamTimeWatermarks implements WatermarkGenerator<Reading> {
  private final long graceMs;
  private long streamTime = Long.MIN_VALUE;

  StreamTimeWatermarks(long graceMs) {
    this.graceMs = graceMs;
  }

  @Override
  public void onEvent(Reading reading, long timestamp, WatermarkOutput output) {
    if (timestamp <= streamTime) return;
    streamTime = timestamp;
    // A window [start, end) fires when the watermark reaches end - 1: at stream time end + grace.
    output.emitWatermark(new Watermark(streamTime - graceMs - 1));
  }

  @Override
  public void onPeriodicEmit(WatermarkOutput output) {}
}
