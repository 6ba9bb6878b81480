/*
 * Runs HiveMQ Community Edition embedded (com.hivemq:hivemq-community-edition-embedded) until the
 * process gets SIGTERM or SIGINT, then stops it cleanly (its file persistence is closed, not cut).
 * Started by stack/hivemq.ts as a single-file source program (`java -cp <jars> HiveMQLauncher.java
 * <config folder> <data folder> <extensions folder> [<user> <password file>]...`): no build step,
 * only the JDK. With users and their password files (the secured stack), an embedded extension lets in
 * those users with their passwords and nobody else, on every listener (HiveMQ CE lets everyone in
 * otherwise). It checks passwords only: HiveMQ CE has no topic permissions of the stack's (docs/deployment.md).
 */
import com.hivemq.embedded.EmbeddedExtension;
import com.hivemq.embedded.EmbeddedHiveMQ;
import com.hivemq.embedded.EmbeddedHiveMQBuilder;
import com.hivemq.extension.sdk.api.ExtensionMain;
import com.hivemq.extension.sdk.api.auth.SimpleAuthenticator;
import com.hivemq.extension.sdk.api.auth.parameter.SimpleAuthInput;
import com.hivemq.extension.sdk.api.auth.parameter.SimpleAuthOutput;
import com.hivemq.extension.sdk.api.packets.connect.ConnackReasonCode;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartOutput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopOutput;
import com.hivemq.extension.sdk.api.services.Services;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

public final class HiveMQLauncher {
    public static void main(String[] args) throws Exception {
        if (args.length < 3 || args.length % 2 == 0) {
            System.err.println("usage: HiveMQLauncher <config folder> <data folder> <extensions folder> [<user> <password file>]...");
            System.exit(2);
        }
        EmbeddedHiveMQBuilder builder = EmbeddedHiveMQ.builder()
                .withConfigurationFolder(Path.of(args[0]))
                .withDataFolder(Path.of(args[1]))
                .withExtensionsFolder(Path.of(args[2]));
        Map<String, byte[]> users = new LinkedHashMap<>();
        for (int i = 3; i < args.length; i += 2) users.put(args[i], Files.readString(Path.of(args[i + 1])).trim().getBytes(StandardCharsets.UTF_8));
        if (!users.isEmpty()) builder.withEmbeddedExtension(passwordCheck(users));
        EmbeddedHiveMQ hivemq = builder.build();
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

    /** Lets in each of `users` with its password only; anything else gets CONNACK 0x86 (bad user name or password). */
    private static EmbeddedExtension passwordCheck(Map<String, byte[]> users) {
        // An unknown user is compared with a password nobody has: the time says nothing about which was wrong.
        byte[] nobody = new byte[32];
        SimpleAuthenticator authenticator = (SimpleAuthInput input, SimpleAuthOutput output) -> {
            String given = input.getConnectPacket().getUserName().orElse("");
            byte[] givenPassword = input.getConnectPacket().getPassword().map(HiveMQLauncher::bytes).orElse(new byte[0]);
            byte[] password = users.get(given);
            boolean passwordMatches = MessageDigest.isEqual(givenPassword, password == null ? nobody : password);
            if (password != null && passwordMatches) output.authenticateSuccessfully();
            else output.failAuthentication(ConnackReasonCode.BAD_USER_NAME_OR_PASSWORD, "bad user name or password");
        };
        ExtensionMain main = new ExtensionMain() {
            @Override
            public void extensionStart(ExtensionStartInput input, ExtensionStartOutput output) {
                Services.securityRegistry().setAuthenticatorProvider(providerInput -> authenticator);
            }

            @Override
            public void extensionStop(ExtensionStopInput input, ExtensionStopOutput output) {}
        };
        return EmbeddedExtension.builder()
                .withId("thermocline-password")
                .withName("Thermocline stack password")
                .withVersion("1")
                .withAuthor("thermocline")
                .withPriority(1000)
                .withStartPriority(1000)
                .withExtensionMain(main)
                .build();
    }

    private static byte[] bytes(ByteBuffer buffer) {
        byte[] copy = new byte[buffer.remaining()];
        buffer.duplicate().get(copy);
        return copy;
    }
}
