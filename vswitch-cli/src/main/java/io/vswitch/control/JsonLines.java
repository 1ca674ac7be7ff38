package io.vswitch.control;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.StringWriter;
import java.lang.reflect.RecordComponent;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The wire codec of the control protocol: one JSON tree per '\n'-terminated line, read and written
 * with jackson-core's streaming parser and generator only. The CLI uses nothing else, so a command
 * never builds an {@code ObjectMapper} (its introspection, date formats and locale data): that and
 * building only the named picocli command took {@code vswitch show} from 0.88 to 0.46 s of CPU
 * (hyperfine; docs/ARCHITECTURE.md, "CLI start-up"). The trees are the ones an ObjectMapper would
 * build (ints as IntNode, longs as LongNode, fractions as DoubleNode). Thread-safe.
 */
public final class JsonLines {
    private static final JsonFactory FACTORY = new JsonFactory();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private JsonLines() {
    }

    /**
     * A record as the object an ObjectMapper writes for it under {@code @JsonInclude(NON_NULL)}: one
     * field per non-null component, in declaration order, for components that are strings, booleans,
     * ints or lists of those. So the CLI can send a request built from a record (e.g. add-port's
     * {@code PortSpec}) without the ObjectMapper that would double that command's CPU time.
     *
     * @throws IllegalArgumentException for a component of another type
     */
    public static ObjectNode object(Record record) {
        ObjectNode object = object();
        for (RecordComponent component : record.getClass().getRecordComponents()) {
            Object value;
            try {
                value = component.getAccessor().invoke(record);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("cannot read " + component.getName(), e);
            }
            if (value instanceof List<?> list) {
                ArrayNode array = object.putArray(component.getName());
                list.forEach(element -> array.add(node(component, element)));
            } else if (value != null) {
                object.set(component.getName(), node(component, value));
            }
        }
        return object;
    }

    private static JsonNode node(RecordComponent component, Object value) {
        if (value instanceof String text) {
            return NODES.textNode(text);
        }
        if (value instanceof Integer number) {
            return NODES.numberNode(number);
        }
        if (value instanceof Boolean flag) {
            return NODES.booleanNode(flag);
        }
        throw new IllegalArgumentException("component " + component.getName() + " of type " + value.getClass().getName()
                + " has no JSON form here");
    }

    /** An empty object to fill, e.g. a request's arguments. */
    public static ObjectNode object() {
        return NODES.objectNode();
    }

    /** {@code tree} as compact JSON followed by '\n'. */
    public static byte[] line(JsonNode tree) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            write(g, tree);
        }
        out.write('\n');
        return out.toByteArray();
    }

    /** {@code tree} as indented JSON, for people ({@code --json}). */
    public static String pretty(JsonNode tree) throws IOException {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            g.useDefaultPrettyPrinter();
            write(g, tree);
        }
        return out.toString();
    }

    /**
     * Parses one line (without its '\n').
     *
     * @throws IOException if it is not exactly one JSON value
     */
    public static JsonNode parse(byte[] bytes, int offset, int length) throws IOException {
        try (JsonParser p = FACTORY.createParser(bytes, offset, length)) {
            JsonToken first = p.nextToken();
            if (first == null) {
                throw new IOException("empty line");
            }
            JsonNode tree = read(p, first);
            if (p.nextToken() != null) {
                throw new IOException("more than one JSON value on the line");
            }
            return tree;
        }
    }

    public static JsonNode parse(byte[] bytes) throws IOException {
        return parse(bytes, 0, bytes.length);
    }

    private static JsonNode read(JsonParser p, JsonToken token) throws IOException {
        switch (token) {
            case START_OBJECT: {
                ObjectNode object = NODES.objectNode();
                JsonToken t;
                while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    object.set(name, read(p, p.nextToken()));
                }
                expect(t, JsonToken.END_OBJECT);
                return object;
            }
            case START_ARRAY: {
                ArrayNode array = NODES.arrayNode();
                JsonToken t;
                while ((t = p.nextToken()) != JsonToken.END_ARRAY && t != null) {
                    array.add(read(p, t));
                }
                expect(t, JsonToken.END_ARRAY);
                return array;
            }
            case VALUE_STRING:
                return NODES.textNode(p.getText());
            case VALUE_NUMBER_INT:
                switch (p.getNumberType()) {
                    case INT:
                        return NODES.numberNode(p.getIntValue());
                    case LONG:
                        return NODES.numberNode(p.getLongValue());
                    default:
                        return NODES.numberNode(p.getBigIntegerValue());
                }
            case VALUE_NUMBER_FLOAT:
                return NODES.numberNode(p.getDoubleValue());
            case VALUE_TRUE:
                return NODES.booleanNode(true);
            case VALUE_FALSE:
                return NODES.booleanNode(false);
            case VALUE_NULL:
                return NODES.nullNode();
            default:
                throw new IOException("unexpected " + token + " in JSON");
        }
    }

    private static void expect(JsonToken got, JsonToken wanted) throws IOException {
        if (got != wanted) {
            throw new IOException("JSON cut off: expected " + wanted);
        }
    }

    private static void write(JsonGenerator g, JsonNode node) throws IOException {
        switch (node.getNodeType()) {
            case OBJECT:
                g.writeStartObject();
                for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext();) {
                    Map.Entry<String, JsonNode> field = it.next();
                    g.writeFieldName(field.getKey());
                    write(g, field.getValue());
                }
                g.writeEndObject();
                break;
            case ARRAY:
                g.writeStartArray();
                for (JsonNode element : node) {
                    write(g, element);
                }
                g.writeEndArray();
                break;
            case STRING:
                g.writeString(node.textValue());
                break;
            case NUMBER:
                switch (node.numberType()) {
                    case INT -> g.writeNumber(node.intValue());
                    case LONG -> g.writeNumber(node.longValue());
                    case BIG_INTEGER -> g.writeNumber(node.bigIntegerValue());
                    case FLOAT -> g.writeNumber(node.floatValue());
                    case BIG_DECIMAL -> g.writeNumber(node.decimalValue());
                    default -> g.writeNumber(node.doubleValue());
                }
                break;
            case BOOLEAN:
                g.writeBoolean(node.booleanValue());
                break;
            case NULL:
                g.writeNull();
                break;
            default:
                // BINARY and POJO nodes never come from Protocol's trees; refuse rather than guess.
                throw new IOException("cannot send a " + node.getNodeType() + " JSON node");
        }
    }
}
