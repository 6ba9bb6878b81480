package dev.thermocline.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.common.utils.Bytes;

/**
 * The Kafka Streams peer of `thermocline process`: per area (the record key), 15 s
 * tumbling event-time windows aligned to the epoch, 5 s grace, readings deduplicated by CloudEvent
 * id, count / distinct devices / mean / M2 (Welford) / min / max, final results only
 * (EmitStrategy.onWindowClose, KIP-825), one JSON window per area and window on the output topic.
 *
 * Settings: flags --name=value or environment variables (flag name upper-cased, - as _):
 * BOOTSTRAP_SERVERS, INPUT_TOPIC, OUTPUT_TOPIC, APPLICATION_ID, STATE_DIR, WINDOW_MS, GRACE_MS,
 * NUM_STREAM_THREADS, PROCESSING_GUARANTEE, EMIT_INTERVAL_MS, AGGREGATE_CACHING (default false), EXPECTED_RECORDS (log the moment that many
 * input records have been seen: the benchmark's end mark), LOG_LEVEL.
 */
public final class StreamsPeer {
  static final String DEDUPE_STORE = "reading-ids";
  static final DateTimeFormatter RFC3339_MILLIS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  private StreamsPeer() {}

  static Map<String, String> settings(String[] args) {
    Map<String, String> settings = new HashMap<>(System.getenv());
    for (String arg : args) {
      if (!arg.startsWith("--") || !arg.contains("=")) throw new IllegalArgumentException("expected --name=value, got " + arg);
      int eq = arg.indexOf('=');
      settings.put(arg.substring(2, eq).toUpperCase().replace('-', '_'), arg.substring(eq + 1));
    }
    return settings;
  }

  static String required(Map<String, String> settings, String name) {
    String value = settings.get(name);
    if (value == null || value.isEmpty()) throw new IllegalArgumentException("missing setting " + name + " (--" + name.toLowerCase().replace('_', '-') + ")");
    return value;
  }

  static Topology topology(String input, String output, long windowMs, long graceMs, boolean caching) {
    ObjectMapper json = new ObjectMapper();
    StreamsBuilder builder = new StreamsBuilder();
    // Dedupe by CloudEvent id within a window: an in-memory window store (changelogged, so it is
    // restored after a crash like every other store), keyed by id, one entry per window start.
    builder.addStateStore(Stores.windowStoreBuilder(
        Stores.inMemoryWindowStore(DEDUPE_STORE, Duration.ofMillis(2 * windowMs + graceMs), Duration.ofMillis(windowMs), false),
        Serdes.String(), Serdes.Long()));
    builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()).withTimestampExtractor(new CloudEventTimeExtractor()))
        // processValues keeps the key (the area): no repartition topic, like the processor.
        .processValues(() -> new ReadingDecoder(json, windowMs), DEDUPE_STORE)
        .groupByKey(Grouped.with(Serdes.String(), new Reading.ReadingSerde()))
        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(windowMs), Duration.ofMillis(graceMs)))
        .emitStrategy(EmitStrategy.onWindowClose())
        // Without the record cache: with it, onWindowClose's emit scan (TimeOrderedCachingWindowStore,
        // NamedCache.keyRange copying the cache's key set per segment) took nearly all of the stream
        // thread's time in a profile (jstack) and the peer managed a few hundred readings/s.
        .aggregate(WindowAggregate::new, (area, reading, aggregate) -> aggregate.add(reading), caching
            ? Materialized.with(Serdes.String(), new WindowAggregate.AggregateSerde())
            : Materialized.<String, WindowAggregate, WindowStore<Bytes, byte[]>>with(Serdes.String(), new WindowAggregate.AggregateSerde()).withCachingDisabled())
        .toStream()
        .map((Windowed<String> window, WindowAggregate aggregate) -> KeyValue.pair(window.key(), windowJson(json, window, aggregate)))
        .to(output, Produced.with(Serdes.String(), Serdes.String()));
    return builder.build();
  }

  /** The `data` of the processor's window event (docs/contract.md): the same fields, times RFC 3339 with millis. */
  static String windowJson(ObjectMapper json, Windowed<String> window, WindowAggregate aggregate) {
    ObjectNode node = json.createObjectNode();
    double m2 = aggregate.m2 > 0 ? aggregate.m2 : 0;
    double variance = m2 / aggregate.count;
    node.put("area", window.key());
    node.put("windowStart", RFC3339_MILLIS.format(window.window().startTime()));
    node.put("windowEnd", RFC3339_MILLIS.format(window.window().endTime()));
    node.put("count", aggregate.count);
    node.put("devices", aggregate.devices.size());
    node.put("mean", aggregate.mean);
    node.put("variance", variance);
    if (aggregate.count > 1) node.put("sampleVariance", m2 / (aggregate.count - 1));
    else node.putNull("sampleVariance");
    node.put("stddev", Math.sqrt(variance));
    node.put("min", aggregate.min);
    node.put("max", aggregate.max);
    return node.toString();
  }

  public static void main(String[] args) throws Exception {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getenv().getOrDefault("LOG_LEVEL", "warn"));
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
    Map<String, String> settings = settings(args);
    String input = settings.getOrDefault("INPUT_TOPIC", "thermostat-readings");
    String output = settings.getOrDefault("OUTPUT_TOPIC", "control-panel-streams");
    long windowMs = Long.parseLong(settings.getOrDefault("WINDOW_MS", "15000"));
    long graceMs = Long.parseLong(settings.getOrDefault("GRACE_MS", "5000"));

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, settings.getOrDefault("APPLICATION_ID", "thermocline-streams-peer"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, settings.getOrDefault("BOOTSTRAP_SERVERS", "127.0.0.1:9092"));
    // Exactly once, as the processor: the peer must pay for the same guarantee.
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, settings.getOrDefault("PROCESSING_GUARANTEE", StreamsConfig.EXACTLY_ONCE_V2));
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, settings.getOrDefault("NUM_STREAM_THREADS", "1"));
    props.put(StreamsConfig.STATE_DIR_CONFIG, settings.getOrDefault("STATE_DIR", System.getProperty("java.io.tmpdir") + "/thermocline-streams-peer"));
    props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    // How often (wall clock) the onWindowClose aggregation looks for windows to emit; Kafka Streams'
    // default is 1000 ms. The fairness check sets 0, so every window closed by stream time is emitted.
    if (settings.containsKey("EMIT_INTERVAL_MS")) props.put("__emit.interval.ms.kstreams.windowed.aggregation__", settings.get("EMIT_INTERVAL_MS"));

    ReadingDecoder.expectedRecords = Long.parseLong(settings.getOrDefault("EXPECTED_RECORDS", "-1"));
    // Any other Kafka Streams, consumer or producer setting: STREAMS_<property with . as _>, e.g.
    // STREAMS_COMMIT_INTERVAL_MS=1000 or STREAMS_PRODUCER_TRANSACTION_TIMEOUT_MS=60000.
    for (Map.Entry<String, String> entry : settings.entrySet()) {
      if (entry.getKey().startsWith("STREAMS_")) props.put(entry.getKey().substring(8).toLowerCase().replace('_', '.'), entry.getValue());
    }
    KafkaStreams streams = new KafkaStreams(topology(input, output, windowMs, graceMs, Boolean.parseBoolean(settings.getOrDefault("AGGREGATE_CACHING", "false"))), props);
    CountDownLatch stopped = new CountDownLatch(1);
    streams.setStateListener((next, previous) -> {
      System.err.println("streams peer state " + previous + " -> " + next + " at " + System.currentTimeMillis());
      if (next == KafkaStreams.State.ERROR || next == KafkaStreams.State.NOT_RUNNING) stopped.countDown();
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(30));
      stopped.countDown();
    }));
    streams.start();
    stopped.await();
    System.err.println("streams peer stopped; decoded " + ReadingDecoder.DECODED.sum() + ", duplicates " + ReadingDecoder.DUPLICATES.sum() + ", invalid " + ReadingDecoder.INVALID.sum());
  }

}
