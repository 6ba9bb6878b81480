package dev.thermocline.bench.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * A reading event in binary mode: ce_id and ce_time from the headers, the JSON data from the value.
 * A record that does not decode is dropped and counted (the peer has no dead-letter topic). Also
 * the benchmark's marks: the moment the source opens, and the moment it has seen EXPECTED_RECORDS.
 */
final class ReadingDeserializer implements KafkaRecordDeserializationSchema<Reading> {
  private final long expectedRecords;
  private transient ObjectMapper json;
  private transient long seen;

  ReadingDeserializer(long expectedRecords) {
    this.expectedRecords = expectedRecords;
  }

  @Override
  public void open(DeserializationSchema.InitializationContext context) {
    json = new ObjectMapper();
    System.err.println("flink peer source open at " + System.currentTimeMillis());
  }

  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Reading> out) throws IOException {
    if (++seen == expectedRecords) System.err.println("flink peer processed " + expectedRecords + " records at " + System.currentTimeMillis());
    Reading reading = decode(record);
    if (reading == null) {
      FlinkPeer.INVALID.increment();
      return;
    }
    FlinkPeer.DECODED.increment();
    out.collect(reading);
  }

  private Reading decode(ConsumerRecord<byte[], byte[]> record) {
    Header id = record.headers().lastHeader("ce_id");
    Header time = record.headers().lastHeader("ce_time");
    if (id == null || time == null || record.value() == null) return null;
    try {
      JsonNode data = json.readTree(record.value());
      JsonNode area = data.get("area");
      JsonNode device = data.get("device");
      JsonNode celsius = data.get("celsius");
      if (area == null || !area.isTextual() || device == null || !device.isTextual() || celsius == null || !celsius.isNumber() || !Double.isFinite(celsius.doubleValue())) return null;
      Reading reading = new Reading();
      reading.id = new String(id.value(), StandardCharsets.UTF_8);
      reading.area = area.textValue();
      reading.device = device.textValue();
      reading.celsius = celsius.doubleValue();
      reading.timeMs = OffsetDateTime.parse(new String(time.value(), StandardCharsets.UTF_8)).toInstant().toEpochMilli();
      return reading;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  @Override
  public TypeInformation<Reading> getProducedType() {
    return TypeInformation.of(Reading.class);
  }
}
