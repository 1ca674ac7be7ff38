package io.vswitch.control;

import com.fasterxml.jackson.databind.JsonNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.PeerCredentials;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.timeout.IdleStateEvent;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One control connection, after framing: checks the peer, answers each request line, hands the
 * connection to a {@link ControlServer.Streaming} result. Runs on the {@code control-commands}
 * executor (events of one channel in order); Netty hands its writes to the channel's event loop.
 *
 * <p>Back-pressure: when a reply leaves the channel unwritable (the client is not reading), the
 * client's further requests are not read until it has caught up, so unsent replies stay bounded by
 * one reply over {@link ControlServer#WATER_MARK}.
 */
final class ClientHandler extends SimpleChannelInboundHandler<ByteBuf> {
    private static final Logger LOG = LoggerFactory.getLogger(ClientHandler.class);
    static final String IDLE = "idle";
    static final String FRAMING = "framing";
    /** While streaming, how often to look for more data when there was none. */
    private static final long STREAM_POLL_MILLIS = 10;

    private final ControlServer.Handler handler;
    private final PeerCheck peers;
    private final AtomicInteger clients;
    private boolean served;
    private ControlServer.Streaming streaming;

    ClientHandler(ControlServer.Handler handler, PeerCheck peers, AtomicInteger clients) {
        this.handler = handler;
        this.peers = peers;
        this.clients = clients;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws IOException {
        if (clients.incrementAndGet() > ControlServer.MAX_CLIENTS) {
            refuse(ctx, new ControlException(ControlException.BUSY, "too many control clients ("
                    + ControlServer.MAX_CLIENTS + "); try again"));
            return;
        }
        PeerCredentials peer = ((EpollDomainSocketChannel) ctx.channel()).peerCredentials();
        if (!peers.allowed(peer)) {
            LOG.warn("control socket: refused uid={} gid={} pid={}", peer.uid(),
                    peer.gids().length > 0 ? peer.gids()[0] : -1, peer.pid());
            refuse(ctx, peers.refusal(peer));
            return;
        }
        served = true;
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        clients.decrementAndGet();
        if (streaming != null) {
            streaming.end();
        }
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf line) throws IOException {
        if (!served || streaming != null) {
            return; // refused and closing, or a streaming client (which has nothing more to say)
        }
        JsonNode reply;
        ControlServer.Streaming stream = null;
        try {
            JsonNode request = parse(line);
            Object result = handler.handle(request.get("cmd").asText(), request.path("args"));
            if (result instanceof ControlServer.Streaming s) {
                stream = s;
                reply = Protocol.ok(s.header());
            } else {
                reply = Protocol.ok(result);
            }
        } catch (ControlException e) {
            reply = Protocol.error(e.code(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.error("control request failed: {}", line.toString(java.nio.charset.StandardCharsets.UTF_8), e);
            reply = Protocol.error(ControlException.FAILED, "internal error: " + e);
        }
        ctx.writeAndFlush(Unpooled.wrappedBuffer(JsonLines.line(reply)));
        if (stream != null) {
            startStreaming(ctx, stream);
        } else if (!ctx.channel().isWritable()) {
            ctx.channel().config().setAutoRead(false);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            if (streaming != null) {
                ctx.channel().eventLoop().execute(() -> drain(ctx));
            } else {
                ctx.channel().config().setAutoRead(true);
            }
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
        if (event instanceof IdleStateEvent) {
            LOG.debug("control client idle: closing");
            ctx.close();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof TooLongFrameException) {
            LOG.warn("control socket: request over {} bytes refused", Protocol.MAX_REQUEST_BYTES);
            refuse(ctx, new ControlException(ControlException.REQUEST_TOO_LARGE,
                    "request longer than " + Protocol.MAX_REQUEST_BYTES + " bytes"));
        } else {
            LOG.debug("control client gone: {}", cause.toString());
            ctx.close();
        }
    }

    private static JsonNode parse(ByteBuf line) throws ControlException {
        JsonNode request;
        try {
            byte[] bytes = ByteBufUtil.getBytes(line);
            request = JsonLines.parse(bytes);
        } catch (IOException e) {
            throw new ControlException(ControlException.BAD_REQUEST, "request is not JSON: " + e.getMessage());
        }
        if (!request.isObject() || !request.path("cmd").isTextual()) {
            throw new ControlException(ControlException.BAD_REQUEST, "request must be a JSON object with a \"cmd\" string");
        }
        int version = request.path("v").asInt(Protocol.VERSION);
        if (version != Protocol.VERSION) {
            throw new ControlException(ControlException.UNSUPPORTED_VERSION,
                    "protocol version " + version + " is not supported; this daemon speaks " + Protocol.VERSION);
        }
        return request;
    }

    private static void refuse(ChannelHandlerContext ctx, ControlException why) {
        try {
            ctx.writeAndFlush(Unpooled.wrappedBuffer(JsonLines.line(Protocol.error(why.code(), why.getMessage()))))
                    .addListener(ChannelFutureListener.CLOSE);
        } catch (IOException e) {
            ctx.close();
        }
    }

    /**
     * From now on the connection carries the stream: no more requests, no idle timeout (the client
     * only listens); data is pulled on the event loop while the channel is writable.
     */
    private void startStreaming(ChannelHandlerContext ctx, ControlServer.Streaming stream) {
        streaming = stream;
        ctx.pipeline().remove(IDLE);
        ctx.writeAndFlush(Unpooled.wrappedBuffer(stream.preamble()));
        ctx.channel().eventLoop().execute(() -> drain(ctx));
    }

    /** On the event loop: sends what the stream has while the client keeps up; comes back for more. */
    private void drain(ChannelHandlerContext ctx) {
        if (!ctx.channel().isActive()) {
            return;
        }
        boolean wrote = false;
        byte[] chunk;
        while (ctx.channel().isWritable() && !streaming.finished() && (chunk = streaming.poll()) != null) {
            ctx.write(Unpooled.wrappedBuffer(chunk));
            wrote = true;
        }
        if (wrote) {
            ctx.flush();
        }
        if (streaming.finished()) {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        } else if (ctx.channel().isWritable()) {
            ctx.channel().eventLoop().schedule(() -> drain(ctx), STREAM_POLL_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
        // else: channelWritabilityChanged resumes the drain once the client has read
    }
}
