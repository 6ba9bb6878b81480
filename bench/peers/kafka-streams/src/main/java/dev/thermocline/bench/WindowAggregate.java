package dev.thermocline.bench;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/** One area's window so far: Welford's running mean and M2, min, max and the distinct devices. */
public final class WindowAggregate {
  long count;
  double mean;
  double m2;
  double min = Double.POSITIVE_INFINITY;
  double max = Double.NEGATIVE_INFINITY;
  final Set<String> devices = new HashSet<>();

  /** Welford: δ = x − mean; mean += δ/n; M2 += δ·(x − mean) (the processor's accumulator.ts). */
  WindowAggregate add(Reading reading) {
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

  /** A compact binary form for the window store: the aggregate is read and written once per reading. */
  public static final class AggregateSerde implements Serde<WindowAggregate> {
    @Override
    public Serializer<WindowAggregate> serializer() {
      return (topic, aggregate) -> {
        byte[][] devices = new byte[aggregate.devices.size()][];
        int size = 8 + 8 * 4 + 4;
        int i = 0;
        for (String device : aggregate.devices) {
          devices[i] = device.getBytes(StandardCharsets.UTF_8);
          size += 4 + devices[i++].length;
        }
        ByteBuffer buffer = ByteBuffer.allocate(size).putLong(aggregate.count).putDouble(aggregate.mean).putDouble(aggregate.m2).putDouble(aggregate.min).putDouble(aggregate.max).putInt(devices.length);
        for (byte[] device : devices) buffer.putInt(device.length).put(device);
        return buffer.array();
      };
    }

    @Override
    public Deserializer<WindowAggregate> deserializer() {
      return (topic, bytes) -> {
        if (bytes == null) return null;
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        WindowAggregate aggregate = new WindowAggregate();
        aggregate.count = buffer.getLong();
        aggregate.mean = buffer.getDouble();
        aggregate.m2 = buffer.getDouble();
        aggregate.min = buffer.getDouble();
        aggregate.max = buffer.getDouble();
        int devices = buffer.getInt();
        for (int i = 0; i < devices; i++) {
          byte[] device = new byte[buffer.getInt()];
          buffer.get(device);
          aggregate.devices.add(new String(device, StandardCharsets.UTF_8));
        }
        return aggregate;
      };
    }
  }
}
