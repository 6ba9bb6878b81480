package dev.thermocline.bench;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/** The `data` of a dev.thermocline.reading.v1 event: {"area","device","celsius"}. */
public final class Reading {
  public String area;
  public String device;
  public double celsius;

  /** Only needed if Kafka Streams ever repartitioned (it does not here: the key stays the area). */
  public static final class ReadingSerde implements Serde<Reading> {
    @Override
    public Serializer<Reading> serializer() {
      return (topic, reading) -> {
        byte[] area = reading.area.getBytes(StandardCharsets.UTF_8);
        byte[] device = reading.device.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(16 + area.length + device.length).putDouble(reading.celsius).putInt(area.length).put(area).putInt(device.length).put(device).array();
      };
    }

    @Override
    public Deserializer<Reading> deserializer() {
      return (topic, bytes) -> {
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        Reading reading = new Reading();
        reading.celsius = buffer.getDouble();
        byte[] area = new byte[buffer.getInt()];
        buffer.get(area);
        byte[] device = new byte[buffer.getInt()];
        buffer.get(device);
        reading.area = new String(area, StandardCharsets.UTF_8);
        reading.device = new String(device, StandardCharsets.UTF_8);
        return reading;
      };
    }
  }
}
