/*
 * Runs HiveMQ Community Edition embedded (com.hivemq:hivemq-community-edition-embedded) until the
 * process gets SIGTERM or SIGINT, then stops it cleanly (its file persistence is closed, not cut).
 * Started by stack/hivemq.ts as a single-file source program (`java -cp <jars> HiveMQLauncher.java
 * <config folder> <data folder> <extensions folder> [<access file>]`): no build step, only the JDK.
 * With an access file (the secured stack; stack/access.ts writes it), an embedded extension lets in
 * its users with their passwords and nobody else, on every listener (HiveMQ CE lets everyone in
 * otherwise), and lets each do only what the file allows it:
 *   user <name> <password file>
 *   allow subscribe|publish|all <topic filter>     (for the user above; anything else is denied)
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
import com.hivemq.extension.sdk.api.auth.parameter.TopicPermission;
import com.hivemq.extension.sdk.api.packets.auth.DefaultAuthorizationBehaviour;
import com.hivemq.extension.sdk.api.packets.auth.ModifiableDefaultPermissions;
import com.hivemq.extension.sdk.api.services.builder.Builders;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

public final class HiveMQLauncher {
    public static void main(String[] args) throws Exception {
        if (args.length != 3 && args.length != 4) {
            System.err.println("usage: HiveMQLauncher <config folder> <data folder> <extensions folder> [<access file>]");
            System.exit(2);
        }
        EmbeddedHiveMQBuilder builder = EmbeddedHiveMQ.builder()
                .withConfigurationFolder(Path.of(args[0]))
                .withDataFolder(Path.of(args[1]))
                .withExtensionsFolder(Path.of(args[2]));
        if (args.length == 4) builder.withEmbeddedExtension(passwordCheck(readAccess(Path.of(args[3]))));
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

    /** A user of the access file: its password and what it may do. */
    private record User(byte[] password, List<String[]> allowed) {}

    private static Map<String, User> readAccess(Path file) throws Exception {
        Map<String, User> users = new LinkedHashMap<>();
        User current = null;
        for (String line : Files.readAllLines(file)) {
            String[] words = line.trim().split("\\s+");
            if (words.length == 3 && words[0].equals("user")) {
                current = new User(Files.readString(Path.of(words[2])).trim().getBytes(StandardCharsets.UTF_8), new ArrayList<>());
                users.put(words[1], current);
            } else if (words.length == 3 && words[0].equals("allow") && current != null) {
                current.allowed().add(new String[] {words[1], words[2]});
            } else if (!line.isBlank()) {
                throw new IllegalArgumentException(file + ": cannot read the line \"" + line + "\"");
            }
        }
        return users;
    }

    private static TopicPermission.MqttActivity activity(String name) {
        return switch (name) {
            case "subscribe" -> TopicPermission.MqttActivity.SUBSCRIBE;
            case "publish" -> TopicPermission.MqttActivity.PUBLISH;
            case "all" -> TopicPermission.MqttActivity.ALL;
            default -> throw new IllegalArgumentException("unknown activity " + name);
        };
    }

    /**
     * Lets in each of `users` with its password only (anything else gets CONNACK 0x86, bad user name
     * or password), with the topic permissions its lines allow and nothing else.
     */
    private static EmbeddedExtension passwordCheck(Map<String, User> users) {
        // An unknown user is compared with a password nobody has: the time says nothing about which was wrong.
        byte[] nobody = new byte[32];
        SimpleAuthenticator authenticator = (SimpleAuthInput input, SimpleAuthOutput output) -> {
            String given = input.getConnectPacket().getUserName().orElse("");
            byte[] givenPassword = input.getConnectPacket().getPassword().map(HiveMQLauncher::bytes).orElse(new byte[0]);
            User user = users.get(given);
            boolean passwordMatches = MessageDigest.isEqual(givenPassword, user == null ? nobody : user.password());
            if (user != null && passwordMatches) {
                ModifiableDefaultPermissions permissions = output.getDefaultPermissions();
                for (String[] allowed : user.allowed()) {
                    permissions.add(Builders.topicPermission().topicFilter(allowed[1]).type(TopicPermission.PermissionType.ALLOW).activity(activity(allowed[0])).build());
                }
                permissions.setDefaultBehaviour(DefaultAuthorizationBehaviour.DENY);
                output.authenticateSuccessfully();
            }
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
