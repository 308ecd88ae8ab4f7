// A Kafka cluster for tests: librdkafka's mock cluster in its own process, so several daemons can
// share it over real TCP. No broker can be installed here; this is the cluster the tests use.
//
//   ob_kafka_mock [--brokers 3] [--topic orderbridge.events.v1] [--partitions 4] [--replication 3]
// prints one line `{"bootstrap": "127.0.0.1:p1,..."}`, then reads commands from stdin:
//   down N | up N      take broker N (1-based) down or bring it back
// and exits at end of input.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>

int main(int argc, char** argv) {
    int brokers = 3, partitions = 4, replication = 3;
    std::string topic = "orderbridge.events.v1";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--brokers")
            brokers = std::stoi(v);
        else if (k == "--topic")
            topic = v;
        else if (k == "--partitions")
            partitions = std::stoi(v);
        else if (k == "--replication")
            replication = std::stoi(v);
        else {
            std::cerr << "unknown option " << k << "\n";
            return 2;
        }
    }
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        std::cerr << "rd_kafka_new: " << err << "\n";
        return 1;
    }
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        std::cerr << "cannot create the mock cluster\n";
        return 1;
    }
    if (auto e = rd_kafka_mock_topic_create(mc, topic.c_str(), partitions, replication)) {
        std::cerr << "topic: " << rd_kafka_err2str(e) << "\n";
        return 1;
    }
    std::cout << "{\"bootstrap\": \"" << rd_kafka_mock_cluster_bootstraps(mc) << "\"}" << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string cmd;
        int id = 0;
        in >> cmd >> id;
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (cmd == "down")
            e = rd_kafka_mock_broker_set_down(mc, id);
        else if (cmd == "up")
            e = rd_kafka_mock_broker_set_up(mc, id);
        else {
            std::cout << "{\"error\": \"unknown command\"}" << std::endl;
            continue;
        }
        std::cout << "{\"ok\": " << (e ? "false" : "true") << "}" << std::endl;
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
