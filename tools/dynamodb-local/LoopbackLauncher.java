// Starts DynamoDB Local for the credits tests, with two things its own command line lacks:
//
//  1. It listens on 127.0.0.1 only. DynamoDB Local has no host option (its Jetty server is
//     built with `new Server(port)`, i.e. every interface), so the launcher sets the host on
//     Jetty's connector before starting it.
//  2. It exits when its standard input closes, so a test process that dies (or never drops
//     its guard, e.g. a shared instance in a static) cannot leave it running.
//
//  3. `-port 0` lets the OS pick a free port (DynamoDB Local itself rejects 0), so callers need
//     not guess a free port and race other processes for it.
//
// It never configures telemetry (DynamoDB Local's own main does unless -disableTelemetry).
// Run with Java 11+'s single-file source launcher, DynamoDBLocal.jar on the class path:
//   java -Djava.library.path=<lib> -cp <DynamoDBLocal.jar> LoopbackLauncher.java -inMemory -port N
// It prints "credits-dynamodb-local ready <host>:<port>" once Jetty is started.
// Used by tests/src/dynamodb_local.rs; installed by scripts/install-tools.sh.

import java.io.InputStream;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackLauncher {
    private static final String HOST = "127.0.0.1";

    public static void main(String[] args) throws Exception {
        Thread watchdog = new Thread(() -> {
            try {
                InputStream in = System.in;
                byte[] buf = new byte[256];
                while (in.read(buf) >= 0) {
                    // Ignore input; wait for end of file.
                }
            } catch (Exception e) {
                // Treat a broken stdin as the parent going away.
            }
            Runtime.getRuntime().halt(0);
        }, "stdin-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        boolean anyPort = false;
        String[] parsed = args.clone();
        for (int i = 0; i + 1 < parsed.length; i++) {
            if (parsed[i].equals("-port") && parsed[i + 1].equals("0")) {
                parsed[i + 1] = "8000"; // placeholder for DynamoDB Local's check; replaced below
                anyPort = true;
            }
        }
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(parsed);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        int bound = 0;
        for (Connector connector : server.getConnectors()) {
            if (connector instanceof ServerConnector) {
                ((ServerConnector) connector).setHost(HOST);
                if (anyPort) {
                    ((ServerConnector) connector).setPort(0);
                }
                bound++;
            }
        }
        if (bound == 0) {
            System.err.println("credits-dynamodb-local: no Jetty ServerConnector to bind to " + HOST);
            System.exit(2);
        }
        proxy.start();
        int port = 0;
        for (Connector connector : server.getConnectors()) {
            if (connector instanceof ServerConnector) {
                port = ((ServerConnector) connector).getLocalPort();
            }
        }
        System.out.println("credits-dynamodb-local ready " + HOST + ":" + port);
        System.out.flush();
        proxy.join();
    }
}
