package dev.thermocline.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Parses the value JSON and drops a reading whose CloudEvent id (header ce_id) was already seen in
 * the same window (docs/contract.md: duplicates count once). Records that do not parse are dropped and counted.
 */
final class ReadingDecoder implements FixedKeyProcessor<String, byte[], Reading> {
  static final LongAdder DECODED = new LongAdder();
  static final LongAdder DUPLICATES = new LongAdder();
  static final LongAdder INVALID = new LongAdder();
  /** When set (EXPECTED_RECORDS), the decoder logs the wall-clock moment it has seen that many records. */
  static long expectedRecords = -1;
  private static final LongAdder SEEN = new LongAdder();

  private final ObjectReader reader;
  private final long windowMs;
  private FixedKeyProcessorContext<String, Reading> context;
  private WindowStore<String, Long> ids;

  ReadingDecoder(ObjectMapper json, long windowMs) {
    this.reader = json.readerFor(Reading.class);
    this.windowMs = windowMs;
  }

  @Override
  public void init(FixedKeyProcessorContext<String, Reading> context) {
    this.context = context;
    this.ids = context.getStateStore(StreamsPeer.DEDUPE_STORE);
  }

  @Override
  public void process(FixedKeyRecord<String, byte[]> record) {
    SEEN.increment();
    if (expectedRecords > 0 && SEEN.sum() == expectedRecords) System.err.println("streams peer processed " + expectedRecords + " records at " + System.currentTimeMillis());
    Reading reading;
    try {
      reading = record.value() == null ? null : reader.readValue(record.value());
    } catch (java.io.IOException e) {
      reading = null;
    }
    Header id = record.headers().lastHeader("ce_id");
    if (reading == null || reading.area == null || reading.device == null || id == null || !Double.isFinite(reading.celsius)) {
      INVALID.increment();
      return;
    }
    long windowStart = record.timestamp() - Math.floorMod(record.timestamp(), windowMs);
    String key = new String(id.value(), StandardCharsets.UTF_8);
    if (ids.fetch(key, windowStart) != null) {
      DUPLICATES.increment();
      return;
    }
    ids.put(key, 1L, windowStart);
    DECODED.increment();
    context.forward(record.withValue(reading));
  }
}
