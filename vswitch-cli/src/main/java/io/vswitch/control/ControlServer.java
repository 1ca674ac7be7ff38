package io.vswitch.control;

import com.fasterxml.jackson.databind.JsonNode;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerAdapter;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultEventExecutorGroup;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.Future;
import io.vswitch.linux.ErrnoException;
import io.vswitch.linux.LibC;
import io.vswitch.linux.SocketFile;
import io.vswitch.linux.UnixAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The daemon's control socket: a unix stream socket (mode 0660) that accepts {@link Protocol}
 * requests from the {@code vswitch} CLI, served by Netty's native epoll transport.
 *
 * <p>Threads: one event loop ({@code control-io}) does all socket work for every client; one
 * executor ({@code control-commands}) runs the commands, which the daemon serializes under its lock
 * anyway. A client costs a channel, not a thread: one that never finishes its line holds at most
 * {@value Protocol#MAX_REQUEST_BYTES} bytes until the idle timeout closes it; one that never reads
 * its replies stops being read (back-pressure: auto-read is off while its channel is not writable)
 * and is closed by the same timeout. Neither delays other clients, nor the datapath, which never
 * takes the control lock.
 *
 * <p>Peers are checked with SO_PEERCRED: root, or a process whose primary or supplementary groups
 * include the configured group, is served; anyone else gets a PERMISSION_DENIED reply, a log line,
 * and the connection closed.
 */
public final class ControlServer implements AutoCloseable {
    /** Connections beyond this get BUSY: a bound on file descriptors and buffers, far above real use. */
    static final int MAX_CLIENTS = 4096;
    /** Replies beyond this much unsent data stop the client's requests being read (see {@link ClientHandler}). */
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(64 * 1024, 256 * 1024);

    /** How long {@link #close()} lets the commands already handed over finish. */
    private static final long COMMANDS_WAIT_SECONDS = 5;
    /** Clients that may wait to be accepted at once; the kernel caps it at net.core.somaxconn. */
    private static final int LISTEN_BACKLOG = 4096;

    private final Path path;
    private final EventLoopGroup io;
    private final EventExecutorGroup commands;
    private Channel server;
    /** The socket file once bound; removed on close only while it is still this one. */
    private final SocketFile socketFile;
    private final AtomicInteger clients = new AtomicInteger();
    /** The client connections, for {@link #close()}. */
    private final ChannelGroup connections;
    /** Client pipelines not yet torn down (see {@link TeardownTracker}). */
    private final AtomicInteger pipelines = new AtomicInteger();
    /** Completed once {@link #stopping} and no client pipeline is left. */
    private final CompletableFuture<Void> pipelinesGone = new CompletableFuture<>();
    /** Set first thing in {@link #close()}: requests from then on are refused, not run. */
    private volatile boolean stopping;

    /** Serves one request; may hand the connection to a streaming command. */
    public interface Handler {
        /**
         * @return the result to send, or a {@link Streaming} whose data follows the reply
         */
        Object handle(String cmd, JsonNode args) throws ControlException;
    }

    /**
     * A result that keeps sending to the client after the reply line (capture). The server pulls
     * from it on the client's event loop, only while the client keeps up with what was sent.
     */
    public interface Streaming {
        /** The reply's result, sent before the stream. */
        Object header();

        /** Bytes sent right after the reply line. */
        byte[] preamble();

        /** The next chunk to send, or null if there is none yet. */
        byte[] poll();

        /** True once everything has been sent: the server then closes the connection. */
        boolean finished();

        /** The stream ended (done, or the client went away); called once. */
        void end();
    }

    /**
     * Binds {@code path} (replacing a stale socket file) and starts accepting.
     *
     * @param allowedGid group whose members may connect besides root, or -1 for root only
     * @param idleTimeout a connection that sends nothing (or cannot be read from) this long is closed
     */
    public ControlServer(Path path, int allowedGid, Duration idleTimeout, Handler handler) throws IOException {
        this.path = path;
        Files.createDirectories(path.toAbsolutePath().getParent());
        // Bound and listening here, not by Netty: Netty deletes the file of a socket it bound when it
        // closes, even when the file at that path is by then another daemon's (ControlSocketFileTest).
        try (UnixAddress address = new UnixAddress(path)) {
            socketFile = SocketFile.bind("control socket", path, LibC.SOCK_STREAM, address);
        } catch (IOException e) {
            throw new IOException(e.getMessage().replace("choose another --path", "stop that vswitchd or choose another --socket"), e);
        }
        if (LibC.INSTANCE.listen(socketFile.fd(), LISTEN_BACKLOG) < 0) {
            IOException e = ErrnoException.last("listen(" + path + ")");
            LibC.INSTANCE.close(socketFile.fd());
            socketFile.remove();
            throw e;
        }
        io = new MultiThreadIoEventLoopGroup(1, new ThreadFactory("control-io"), EpollIoHandler.newFactory());
        commands = new DefaultEventExecutorGroup(1, new ThreadFactory("control-commands"));
        connections = new DefaultChannelGroup("control clients", io.next());
        PeerCheck peers = new PeerCheck(allowedGid);
        Handler unlessStopping = (cmd, args) -> {
            if (stopping) {
                throw new ControlException(ControlException.STOPPING, "vswitchd is stopping: '" + cmd + "' was not run");
            }
            return handler.handle(cmd, args);
        };
        long idleMillis = idleTimeout.toMillis();
        Channel bound = null;
        try {
            bound = new ServerBootstrap()
                    .group(io)
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                    .childHandler(new ChannelInitializer<EpollDomainSocketChannel>() {
                        @Override
                        protected void initChannel(EpollDomainSocketChannel ch) {
                            connections.add(ch);
                            ch.pipeline()
                                    .addLast(new TeardownTracker())
                                    .addLast(ClientHandler.IDLE, new IdleStateHandler(idleMillis, 0, 0, TimeUnit.MILLISECONDS))
                                    .addLast(ClientHandler.FRAMING, new LineBasedFrameDecoder(Protocol.MAX_REQUEST_BYTES, true, true))
                                    .addLast(commands, "requests", new ClientHandler(unlessStopping, peers, clients));
                        }
                    })
                    .channelFactory(() -> new EpollServerDomainSocketChannel(socketFile.fd(), true))
                    .register()
                    .syncUninterruptibly()
                    .channel();
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-rw----"));
            if (allowedGid >= 0) {
                try {
                    Files.setAttribute(path, "unix:gid", allowedGid);
                } catch (IOException e) {
                    throw new IOException("cannot give control socket " + path + " to group " + allowedGid
                            + " (" + e.getMessage() + "): the daemon needs CAP_CHOWN for --group", e);
                }
            }
        } catch (IOException | RuntimeException e) {
            server = bound;
            close();
            throw e;
        }
        server = bound;
    }

    public Path path() {
        return path;
    }

    /** True once {@link #close()} has begun. */
    boolean stopping() {
        return stopping;
    }

    /**
     * Stops serving, without dropping an answer: new connections are no longer accepted and new
     * requests are answered with a {@link ControlException#STOPPING} error instead of being run; the
     * commands already handed over finish (at most {@value #COMMANDS_WAIT_SECONDS} s) and their replies
     * are written before the client connections are closed; then, once every client's pipeline is torn
     * down, the event loop and the command executor stop at once. Every wait is bounded, since an event
     * loop killed by an Error (a class missing after the jar was replaced) never completes anything, and
     * the daemon's shutdown must not hang on it.
     *
     * <p>Why the teardown is waited for: a client's handler runs on the command executor, so tearing
     * down its channel hops between the two threads; stopping either while a hop is on its way rejects
     * it ({@code ControlServerShutdownTest}). That used to be covered by a 100 ms quiet period of the
     * event loop, which every shutdown paid and which did not cover a command slower than it (its reply
     * was lost).
     *
     * @throws IllegalStateException if the socket did not close cleanly (the file is removed anyway)
     */
    @Override
    public void close() {
        stopping = true;
        try {
            if (server != null) {
                Future<?> closed = server.close(); // closes the socket's fd
                if (!closed.awaitUninterruptibly(5, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("the control socket did not close within 5 s");
                }
                if (!closed.isSuccess()) {
                    throw new IllegalStateException("closing the control socket: " + closed.cause(), closed.cause());
                }
            } else {
                LibC.INSTANCE.close(socketFile.fd());
            }
        } finally {
            closeConnections();
            io.shutdownGracefully(0, 1000, TimeUnit.MILLISECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
            commands.shutdownGracefully(0, 1000, TimeUnit.MILLISECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
            socketFile.remove(); // only while still ours: a newer daemon may serve this path by now
        }
    }

    /**
     * Lets the commands already handed over finish (the executor runs tasks in order, so an empty task
     * behind them completes after their replies were handed to the event loop), closes every client
     * connection (queued behind those replies on the event loop, so they are sent first) and waits until
     * the connections' pipelines are gone.
     */
    private void closeConnections() {
        commands.submit(() -> { }).awaitUninterruptibly(COMMANDS_WAIT_SECONDS, TimeUnit.SECONDS);
        connections.close().awaitUninterruptibly(1, TimeUnit.SECONDS);
        if (pipelines.get() > 0) {
            try {
                pipelinesGone.get(1, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException e) {
                // Bounded like every other wait here; the executors are stopped regardless.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * First in every client's pipeline, so the last handler its teardown removes (on the event loop,
     * after the client's handler was removed on the command executor): when no tracker is left, no
     * client has a task on its way to either thread.
     */
    private final class TeardownTracker extends ChannelHandlerAdapter {
        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            pipelines.incrementAndGet();
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            if (pipelines.decrementAndGet() == 0 && stopping) {
                pipelinesGone.complete(null);
            }
        }
    }

    /** Daemon threads with a fixed name, so a stuck control plane never keeps the JVM alive. */
    private static final class ThreadFactory implements java.util.concurrent.ThreadFactory {
        private final String name;

        ThreadFactory(String name) {
            this.name = name;
        }

        @Override
        public Thread newThread(Runnable r) {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        }
    }
}
