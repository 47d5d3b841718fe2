package vn.dancu.example;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWEDecrypter;
import com.nimbusds.jose.JWEObject;
import com.nimbusds.jose.crypto.ECDHDecrypter;
import com.nimbusds.jose.crypto.RSADecrypter;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import java.text.ParseException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * An agency of the National Population Database asking in Java, from docs/CONTRACT.md and
 * schemas/standalone alone: a VERIFY and a LOOKUP for each person of a list, then every answer
 * checked. Exit status 0 when each request got exactly one correct answer.
 *
 * <p>Settings come from the environment, as for the Python SDK: DANCU_KAFKA__BOOTSTRAP_SERVERS,
 * DANCU_KAFKA__SECURITY_PROTOCOL, DANCU_KAFKA__USERNAME, DANCU_KAFKA__PASSWORD_FILE (or _PASSWORD),
 * DANCU_KAFKA__TOPIC_PREFIX; and DANCU_EXAMPLE_AGENCY, DANCU_EXAMPLE_SCHEMAS (the standalone schemas),
 * DANCU_EXAMPLE_PEOPLE (tab-separated personal id, full name, birth date), DANCU_EXAMPLE_VERIFY and
 * DANCU_EXAMPLE_LOOKUP (each "purpose code|legal basis"); DANCU_SDK__ANSWER_KEYS, the agency's private
 * answer keys (a JWK Set), which open the LOOKUP answers sealed to its registered key.
 */
public final class AgencyClient {
    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final long LIFETIME_MS = 60_000;

    private record Person(String personalId, String fullName, LocalDate birthDate) {}

    private record Asked(String operation, Person person) {}

    private AgencyClient() {}

    public static void main(String[] args) throws IOException {
        String agency = env("DANCU_EXAMPLE_AGENCY", null);
        String prefix = env("DANCU_KAFKA__TOPIC_PREFIX", "ndxp.dancu");
        Path schemas = Path.of(env("DANCU_EXAMPLE_SCHEMAS", "schemas/standalone"));
        Schema request = new Schema.Parser().parse(schemas.resolve("vn.dancu.Request.avsc").toFile());
        Schema response = new Schema.Parser().parse(schemas.resolve("vn.dancu.Response.avsc").toFile());
        BinaryMessageEncoder<GenericRecord> encoder = new BinaryMessageEncoder<>(GenericData.get(), request);
        BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), response);
        Schema sealedFields = new Schema.Parser().parse(schemas.resolve("vn.dancu.SealedFields.avsc").toFile());
        Opener opener = new Opener(new BinaryMessageDecoder<>(GenericData.get(), sealedFields),
                loadKeys(env("DANCU_SDK__ANSWER_KEYS", null)));
        List<Person> people = people(Path.of(env("DANCU_EXAMPLE_PEOPLE", null)));
        String[] verify = env("DANCU_EXAMPLE_VERIFY", null).split("\\|", 2);
        String[] lookup = env("DANCU_EXAMPLE_LOOKUP", null).split("\\|", 2);

        Map<String, Asked> asked = new HashMap<>();
        Map<String, Integer> answers = new HashMap<>();
        int correct = 0;
        try (KafkaConsumer<String, byte[]> consumer = consumer(agency);
                KafkaProducer<String, byte[]> producer = producer()) {
            String answerTopic = prefix + ".res." + agency;
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo info : consumer.partitionsFor(answerTopic)) {
                partitions.add(new TopicPartition(answerTopic, info.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToEnd(partitions);
            partitions.forEach(consumer::position); // from here on: only answers to what follows

            for (Person person : people) {
                send(producer, encoder, prefix, agency, asked, verifyRequest(request, agency, verify, person),
                        new Asked("VERIFY", person));
                send(producer, encoder, prefix, agency, asked, lookupRequest(request, agency, lookup, person),
                        new Asked("LOOKUP", person));
            }
            producer.flush();

            Instant deadline = Instant.now().plus(WAIT);
            while (answers.size() < asked.size() && Instant.now().isBefore(deadline)) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    GenericRecord answer = decoder.decode(record.value());
                    String requestId = answer.get("request_id").toString();
                    Asked question = asked.get(requestId);
                    if (question == null) {
                        continue; // another client's of this agency
                    }
                    answers.merge(requestId, 1, Integer::sum);
                    if (isCorrect(question, answer, opener)) {
                        correct++;
                    } else {
                        System.out.println("wrong answer to " + question + ": " + answer);
                    }
                }
            }
        }
        long twice = answers.values().stream().filter(count -> count > 1).count();
        System.out.printf("sent %d, answered %d, correct %d, answered twice %d%n",
                asked.size(), answers.size(), correct, twice);
        System.exit(correct == asked.size() && answers.size() == asked.size() && twice == 0 ? 0 : 1);
    }

    private static void send(KafkaProducer<String, byte[]> producer, BinaryMessageEncoder<GenericRecord> encoder,
            String prefix, String agency, Map<String, Asked> asked, GenericRecord request, Asked question)
            throws IOException {
        String requestId = request.get("request_id").toString();
        asked.put(requestId, question);
        ByteBuffer value = encoder.encode(request);
        byte[] bytes = new byte[value.remaining()];
        value.get(bytes);
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(prefix + ".req." + agency, requestId, bytes);
        record.headers().add("correlation_id", requestId.getBytes(StandardCharsets.UTF_8));
        producer.send(record);
    }

    private static GenericRecord envelope(Schema schema, String agency, String[] context, String operation) {
        long now = System.currentTimeMillis();
        GenericRecord request = new GenericData.Record(schema);
        request.put("request_id", UUID.randomUUID().toString());
        request.put("agency", agency);
        request.put("officer_id", "java-officer-1");
        request.put("case_no", "HS-JAVA-" + LocalDate.now());
        request.put("purpose_code", context[0]);
        request.put("legal_basis", context[1]);
        request.put("operation", operation);
        request.put("sent_at", now);
        request.put("expires_at", now + LIFETIME_MS);
        return request;
    }

    private static GenericRecord verifyRequest(Schema schema, String agency, String[] context, Person person) {
        GenericRecord request = envelope(schema, agency, context, "VERIFY");
        GenericRecord body = new GenericData.Record(branch(schema.getField("body").schema(), "VerifyBody"));
        body.put("personal_id", person.personalId());
        body.put("full_name", person.fullName());
        body.put("birth_date", (int) person.birthDate().toEpochDay()); // an Avro date: days since 1970-01-01
        request.put("body", body);
        return request;
    }

    private static GenericRecord lookupRequest(Schema schema, String agency, String[] context, Person person) {
        GenericRecord request = envelope(schema, agency, context, "LOOKUP");
        GenericRecord body = new GenericData.Record(branch(schema.getField("body").schema(), "LookupBody"));
        body.put("personal_id", person.personalId());
        body.put("fields", List.of("full_name", "birth_date"));
        request.put("body", body);
        return request;
    }

    private static Schema branch(Schema union, String name) {
        return union.getTypes().stream().filter(s -> name.equals(s.getName())).findFirst().orElseThrow();
    }

    private static boolean isCorrect(Asked question, GenericRecord answer, Opener opener) throws IOException {
        if (!"OK".equals(answer.get("status").toString())) {
            return false;
        }
        if (question.operation().equals("VERIFY")) {
            GenericRecord result = (GenericRecord) answer.get("verify");
            return result != null && "MATCH".equals(result.get("verdict").toString());
        }
        GenericRecord result = (GenericRecord) answer.get("lookup");
        if (result == null || !(Boolean) result.get("found")) {
            return false;
        }
        Map<String, Object> disclosed = new HashMap<>();
        for (Object field : opener.fields(answer, result)) {
            GenericRecord one = (GenericRecord) field;
            disclosed.put(one.get("name").toString(), one.get("value"));
        }
        Object name = disclosed.get("full_name");
        Object born = disclosed.get("birth_date");
        return name != null && question.person().fullName().equals(name.toString())
                && born instanceof Integer days && days == question.person().birthDate().toEpochDay();
    }

    /**
     * Opens LOOKUP answers: their values are a JWE (ECDH-ES+A256KW or RSA-OAEP-256, A256GCM) sealed to
     * the agency's key, whose plaintext is a vn.dancu.SealedFields single object naming its exchange.
     */
    private record Opener(BinaryMessageDecoder<GenericRecord> decoder, JWKSet keys) {
        List<?> fields(GenericRecord answer, GenericRecord result) throws IOException {
            GenericRecord sealed = (GenericRecord) result.get("sealed");
            if (sealed == null) {
                return (List<?>) result.get("fields"); // nothing disclosed, nothing sealed
            }
            String kid = sealed.get("key_id").toString();
            JWK key = keys.getKeyByKeyId(kid);
            if (key == null) {
                throw new IOException("answer sealed to key " + kid + ", which DANCU_SDK__ANSWER_KEYS does not hold");
            }
            try {
                JWEObject jwe = JWEObject.parse(sealed.get("jwe").toString());
                JWEDecrypter decrypter = key instanceof ECKey ec ? new ECDHDecrypter(ec) : new RSADecrypter(key.toRSAKey());
                jwe.decrypt(decrypter);
                GenericRecord plain = decoder.decode(jwe.getPayload().toBytes());
                if (!plain.get("exchange_id").toString().equals(answer.get("exchange_id").toString())) {
                    throw new IOException("the sealed part of " + answer.get("request_id") + " answers another exchange");
                }
                return (List<?>) plain.get("fields");
            } catch (ParseException | JOSEException e) {
                throw new IOException("cannot open the answer to " + answer.get("request_id") + ": " + e.getMessage(), e);
            }
        }
    }

    private static JWKSet loadKeys(String file) throws IOException {
        if (file == null) {
            return new JWKSet();
        }
        try {
            return JWKSet.load(Path.of(file).toFile());
        } catch (ParseException e) {
            throw new IOException(file + " is not a JWK Set: " + e.getMessage(), e);
        }
    }

    private static List<Person> people(Path file) throws IOException {
        List<Person> people = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            String[] cells = line.split("\t");
            people.add(new Person(cells[0], cells[1], LocalDate.parse(cells[2])));
        }
        return people;
    }

    private static Properties common() throws IOException {
        Properties properties = new Properties();
        properties.put("bootstrap.servers", env("DANCU_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092"));
        String protocol = env("DANCU_KAFKA__SECURITY_PROTOCOL", "PLAINTEXT");
        properties.put("security.protocol", protocol);
        if (protocol.startsWith("SASL")) {
            String file = System.getenv("DANCU_KAFKA__PASSWORD_FILE");
            String password = file != null ? Files.readString(Path.of(file)).strip() : env("DANCU_KAFKA__PASSWORD", null);
            properties.put("sasl.mechanism", "SCRAM-SHA-512");
            properties.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required"
                    + " username=\"" + env("DANCU_KAFKA__USERNAME", null) + "\" password=\"" + password + "\";");
        }
        String ca = System.getenv("DANCU_KAFKA__SSL_CA");
        if (protocol.endsWith("SSL") && ca != null) {
            // Kafka's Java client reads PEM trust stores itself (KIP-651): no keytool, no JKS.
            properties.put("ssl.truststore.type", "PEM");
            properties.put("ssl.truststore.location", ca);
        }
        String certificate = System.getenv("DANCU_KAFKA__SSL_CERT");
        if (protocol.endsWith("SSL") && certificate != null) {
            // Mutual TLS: the certificate and its PKCS#8 private key, given to the client as PEM text.
            properties.put("ssl.keystore.type", "PEM");
            properties.put("ssl.keystore.certificate.chain", Files.readString(Path.of(certificate)));
            properties.put("ssl.keystore.key", Files.readString(Path.of(env("DANCU_KAFKA__SSL_KEY", null))));
        }
        return properties;
    }

    private static KafkaConsumer<String, byte[]> consumer(String agency) throws IOException {
        Properties properties = common();
        // Groups must start with "<agency>."; this one only reads, it commits nothing.
        properties.put(ConsumerConfig.GROUP_ID_CONFIG, agency + ".java." + UUID.randomUUID());
        properties.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        properties.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        properties.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(properties);
    }

    private static KafkaProducer<String, byte[]> producer() throws IOException {
        Properties properties = common();
        properties.put(ProducerConfig.ACKS_CONFIG, "all");
        properties.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        properties.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        properties.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return new KafkaProducer<>(properties);
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        if (value != null && !value.isEmpty()) {
            return value;
        }
        if (fallback == null) {
            throw new IllegalArgumentException("set " + name);
        }
        return fallback;
    }
}
