/*
 * Runs HiveMQ Community Edition embedded (com.hivemq:hivemq-community-edition-embedded) until the
 * process gets SIGTERM or SIGINT, then stops it cleanly (its file persistence is closed, not cut).
 * Started by stack/hivemq.ts as a single-file source program (`java -cp <jars> HiveMQLauncher.java
 * <config folder> <data folder> <extensions folder>`): no build step, only the JDK.
 */
import com.hivemq.embedded.EmbeddedHiveMQ;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

public final class HiveMQLauncher {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: HiveMQLauncher <config folder> <data folder> <extensions folder>");
            System.exit(2);
        }
        EmbeddedHiveMQ hivemq = EmbeddedHiveMQ.builder()
                .withConfigurationFolder(Path.of(args[0]))
                .withDataFolder(Path.of(args[1]))
                .withExtensionsFolder(Path.of(args[2]))
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                hivemq.stop().join();
                hivemq.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }));
        try {
            hivemq.start().join();
        } catch (Exception e) {
            System.err.println("HiveMQ did not start: " + e);
            e.printStackTrace();
            System.exit(1);
        }
        System.err.println("HiveMQ started");
        stopped.await();
    }
}
