package dev.thermocline.bench;

import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.streams.processor.TimestampExtractor;

/** Event time = the reading CloudEvent's `time` attribute (binary mode: header ce_time, RFC 3339). */
public final class CloudEventTimeExtractor implements TimestampExtractor {
  @Override
  public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
    Header header = record.headers().lastHeader("ce_time");
    if (header == null) return -1; // Kafka Streams skips records with a negative timestamp (and counts them).
    try {
      return OffsetDateTime.parse(new String(header.value(), StandardCharsets.UTF_8)).toInstant().toEpochMilli();
    } catch (RuntimeException e) {
      return -1;
    }
  }
}
