package dev.thermocline.bench.flink;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The Apache Flink peer of `thermocline process`, as a user of Flink's DataStream API would write it:
 * a KafkaSource of the readings topic, event time from each reading's ce_time, a watermark that
 * trails the largest event time by the grace (5 s; StreamTimeWatermarks), so a 15 s tumbling window
 * aligned to the epoch fires once, when the largest event time seen reaches its end + grace
 * (Thermocline's close rule), and later readings of it are dropped as late; per area (the record key): readings deduplicated by CloudEvent id, count,
 * distinct devices, mean / M2 (Welford), min, max; one JSON window per area and window to a KafkaSink
 * with DeliveryGuarantee.EXACTLY_ONCE (Kafka transactions committed at each checkpoint).
 *
 * One difference from Thermocline and the Kafka Streams peer, which keep stream time per partition:
 * a Flink source's watermark is the smallest over the partitions it reads, so a window closes when
 * every partition has moved past its end + grace, and whether a reading is late depends on how far
 * the other partitions had been read. bench/fairness.ts therefore checks this peer on a one-partition
 * copy of its data set, where the two rules are the same.
 *
 * Settings: flags --name=value or environment variables (flag name upper-cased, - as _):
 * BOOTSTRAP_SERVERS, INPUT_TOPIC, OUTPUT_TOPIC, GROUP_ID, TRANSACTIONAL_ID_PREFIX, WINDOW_MS,
 * GRACE_MS, PARALLELISM (default 1: one task slot, as the processor is one thread), CHECKPOINT_MS
 * (default 100, the processor's commit interval: the exactly-once sink's output is readable only
 * after a checkpoint), EXPECTED_RECORDS (log the moment
 * that many input records have been seen: the benchmark's end mark), LOG_LEVEL.
 */
public final class FlinkPeer {
  static final LongAdder DECODED = new LongAdder();
  static final LongAdder DUPLICATES = new LongAdder();
  static final LongAdder INVALID = new LongAdder();
  static final DateTimeFormatter RFC3339_MILLIS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  private FlinkPeer() {}

  static Map<String, String> settings(String[] args) {
    Map<String, String> settings = new HashMap<>(System.getenv());
    for (String arg : args) {
      if (!arg.startsWith("--") || !arg.contains("=")) throw new IllegalArgumentException("expected --name=value, got " + arg);
      int eq = arg.indexOf('=');
      settings.put(arg.substring(2, eq).toUpperCase().replace('-', '_'), arg.substring(eq + 1));
    }
    return settings;
  }

  /** One window's result: the record key (the area) and the JSON value. */
  public static final class WindowResult {
    public String area;
    public String json;

    public WindowResult() {}

    WindowResult(String area, String json) {
      this.area = area;
      this.json = json;
    }
  }

  static final class Aggregate implements AggregateFunction<Reading, WindowAccumulator, WindowAccumulator> {
    @Override
    public WindowAccumulator createAccumulator() {
      return new WindowAccumulator();
    }

    @Override
    public WindowAccumulator add(Reading reading, WindowAccumulator accumulator) {
      return accumulator.add(reading);
    }

    @Override
    public WindowAccumulator getResult(WindowAccumulator accumulator) {
      return accumulator;
    }

    @Override
    public WindowAccumulator merge(WindowAccumulator a, WindowAccumulator b) {
      throw new UnsupportedOperationException("tumbling windows never merge");
    }
  }

  /** The `data` of the processor's window event (docs/contract.md): the same fields, times RFC 3339 with millis. */
  static final class WindowJson extends ProcessWindowFunction<WindowAccumulator, WindowResult, String, TimeWindow> {
    private transient ObjectMapper json;

    @Override
    public void process(String area, Context context, Iterable<WindowAccumulator> elements, Collector<WindowResult> out) {
      if (json == null) json = new ObjectMapper();
      WindowAccumulator aggregate = elements.iterator().next();
      ObjectNode node = json.createObjectNode();
      double m2 = aggregate.m2 > 0 ? aggregate.m2 : 0;
      double variance = m2 / aggregate.count;
      node.put("area", area);
      node.put("windowStart", RFC3339_MILLIS.format(Instant.ofEpochMilli(context.window().getStart())));
      node.put("windowEnd", RFC3339_MILLIS.format(Instant.ofEpochMilli(context.window().getEnd())));
      node.put("count", aggregate.count);
      node.put("devices", aggregate.devices.size());
      node.put("mean", aggregate.mean);
      node.put("variance", variance);
      if (aggregate.count > 1) node.put("sampleVariance", m2 / (aggregate.count - 1));
      else node.putNull("sampleVariance");
      node.put("stddev", Math.sqrt(variance));
      node.put("min", aggregate.min);
      node.put("max", aggregate.max);
      out.collect(new WindowResult(area, node.toString()));
    }
  }

  static final class WindowSerializer implements KafkaRecordSerializationSchema<WindowResult> {
    private final String topic;

    WindowSerializer(String topic) {
      this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(WindowResult window, KafkaSinkContext context, Long timestamp) {
      return new ProducerRecord<>(topic, window.area.getBytes(StandardCharsets.UTF_8), window.json.getBytes(StandardCharsets.UTF_8));
    }
  }

  public static void main(String[] args) throws Exception {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getenv().getOrDefault("LOG_LEVEL", "warn"));
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
    Map<String, String> settings = settings(args);
    String bootstrap = settings.getOrDefault("BOOTSTRAP_SERVERS", "127.0.0.1:9092");
    String input = settings.getOrDefault("INPUT_TOPIC", "thermostat-readings");
    String output = settings.getOrDefault("OUTPUT_TOPIC", "control-panel-flink");
    String groupId = settings.getOrDefault("GROUP_ID", "thermocline-flink-peer");
    long windowMs = Long.parseLong(settings.getOrDefault("WINDOW_MS", "15000"));
    long graceMs = Long.parseLong(settings.getOrDefault("GRACE_MS", "5000"));
    int parallelism = Integer.parseInt(settings.getOrDefault("PARALLELISM", "1"));
    long checkpointMs = Long.parseLong(settings.getOrDefault("CHECKPOINT_MS", "100"));
    long expectedRecords = Long.parseLong(settings.getOrDefault("EXPECTED_RECORDS", "-1"));

    Configuration config = new Configuration();
    // Records are not copied between chained operators: the usual setting for throughput.
    config.set(PipelineOptions.OBJECT_REUSE, true);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, config);
    // Exactly once, as the processor: the sink's transaction commits with each checkpoint.
    env.enableCheckpointing(checkpointMs);

    KafkaSource<Reading> source = KafkaSource.<Reading>builder()
        .setBootstrapServers(bootstrap)
        .setTopics(input)
        .setGroupId(groupId)
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setDeserializer(new ReadingDeserializer(expectedRecords))
        .setProperty("isolation.level", "read_committed")
        .build();
    KafkaSink<WindowResult> sink = KafkaSink.<WindowResult>builder()
        .setBootstrapServers(bootstrap)
        .setRecordSerializer(new WindowSerializer(output))
        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(settings.getOrDefault("TRANSACTIONAL_ID_PREFIX", groupId))
        // Flink's default (1 hour) is over the broker's transaction.max.timeout.ms (15 min).
        .setProperty("transaction.timeout.ms", "60000")
        .build();

    WatermarkStrategy<Reading> watermarks = WatermarkStrategy.<Reading>forGenerator(context -> new StreamTimeWatermarks(graceMs)).withTimestampAssigner((reading, ignored) -> reading.timeMs);
    env.fromSource(source, watermarks, "readings")
        .keyBy(reading -> reading.area)
        .window(TumblingEventTimeWindows.of(Duration.ofMillis(windowMs)))
        .aggregate(new Aggregate(), new WindowJson())
        .sinkTo(sink);
    Runtime.getRuntime().addShutdownHook(new Thread(() ->
        System.err.println("flink peer stopped; decoded " + DECODED.sum() + ", duplicates " + DUPLICATES.sum() + ", invalid " + INVALID.sum())));
    env.execute("thermocline-flink-peer");
  }
}
