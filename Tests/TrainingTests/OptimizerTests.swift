import XCTest
@testable import Training

final class OptimizerTests: XCTestCase {
    /// Three steps of PyTorch on one 19-element tensor (two SIMD8 blocks and a tail), from
    /// scripts/training/optimizer_fixtures.py (its docstring gives the inputs' formulas).
    enum Reference {
        // torch 2.13.0+cpu, scripts/training/optimizer_fixtures.py
        static let adamW: [Float] = [-0.7532681822776794, -0.22351408004760742, 0.3946135342121124, -0.6465264558792114,
                                     -0.03613750636577606, 0.5229880809783936, -0.4699625074863434, 0.13746267557144165,
                                     0.6578152775764465, -0.28409793972969055, 0.2358444482088089, -0.7068839073181152,
                                     -0.17707350850105286, 0.44050222635269165, -0.5791861414909363, 0.009102310054004192,
                                     0.5692036747932434, -0.42420056462287903, 0.1841222643852234]
        static let sgd: [Float] = [-0.6929035782814026, -0.27432817220687866, 0.4174538254737854, -0.7332500219345093,
                                   -0.04146802797913551, 0.521016001701355, -0.5003899335861206, 0.2671733796596527,
                                   0.6099675297737122, -0.1917485147714615, 0.15104562044143677, -0.6506703495979309,
                                   -0.23209498822689056, 0.4596870243549347, -0.5471082329750061, 0.00076516397530213,
                                   0.5632491111755371, -0.4581567347049713, 0.309406578540802]

        static let count = 19
        static func initial() -> [Float] { (0..<count).map { Float((($0 * 37) % 101) - 50) / 64 } }
        static func gradient(step t: Int) -> [Float] { (0..<count).map { Float((($0 * 53 + t * 17) % 97) - 48) / 128 } }
    }

    // Tolerance 2e-6 absolute on values below 1: a few float32 ulps, for PyTorch's vectorised
    // kernels fusing some multiply-adds (fmadd) that Swift rounds twice.
    func testAdamWMatchesPyTorch() {
        var p = Reference.initial()
        var m = [Float](repeating: 0, count: Reference.count), v = m
        for t in 1...3 {
            let g = Reference.gradient(step: t)
            adamWStep(parameters: &p, gradients: g, firstMoment: &m, secondMoment: &v, count: p.count,
                      learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1, step: t)
        }
        for i in p.indices { XCTAssertEqual(p[i], Reference.adamW[i], accuracy: 2e-6, "element \(i)") }
    }

    func testSGDWithMomentumMatchesPyTorch() {
        var p = Reference.initial()
        var buffer = [Float](repeating: 0, count: Reference.count)
        for t in 1...3 {
            let g = Reference.gradient(step: t)
            sgdStep(parameters: &p, gradients: g, momentumBuffer: &buffer, count: p.count,
                    learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        }
        for i in p.indices { XCTAssertEqual(p[i], Reference.sgd[i], accuracy: 2e-6, "element \(i)") }
    }

    func testSIMDAndTailPathsAgree() {
        // The same values at every position must update identically, block or tail.
        var p = [Float](repeating: 0.75, count: 11), g = [Float](repeating: -0.25, count: 11)
        var m = [Float](repeating: 0, count: 11), v = m
        adamWStep(parameters: &p, gradients: &g, firstMoment: &m, secondMoment: &v, count: 11,
                  learningRate: 0.003, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.05, step: 1)
        XCTAssertEqual(Set(p).count, 1, "\(p)")
        var q = [Float](repeating: 0.75, count: 11), b = [Float](repeating: 0, count: 11)
        sgdStep(parameters: &q, gradients: g, momentumBuffer: &b, count: 11, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4)
        XCTAssertEqual(Set(q).count, 1, "\(q)")
    }

    func testParameterGroupsFollowTheName() {
        let scales = ParameterGroupScales(weights: 0.2, biases: 0.0048)
        XCTAssertEqual(scales.scale(forParameterNamed: "blocks.3.attn.qkv.bias"), 0.0048)
        XCTAssertEqual(scales.scale(forParameterNamed: "blocks.3.attn.qkv.weight"), 0.2)
        XCTAssertEqual(scales.scale(forParameterNamed: "pos_embed"), 0.2)
    }
}

final class ScheduleTests: XCTestCase {
    func testWarmupThenCosineMatchesTheClosedForm() {
        let schedule = LearningRateSchedule(baseLearningRate: 0.1, warmupSteps: 4, totalSteps: 20, finalScale: 1e-3)
        let expected: [Double] = (0..<24).map { s in
            if s < 4 { return 0.1 * Double(s + 1) / 4 }
            if s >= 20 { return 1e-4 }
            return 1e-4 + (0.1 - 1e-4) * 0.5 * (1 + cos(Double.pi * Double(s - 4) / 16))
        }
        for s in 0..<24 { XCTAssertEqual(schedule.learningRate(atStep: s), expected[s], accuracy: 1e-15, "step \(s)") }
        XCTAssertEqual(schedule.learningRate(atStep: 3), 0.1, accuracy: 1e-15, "warm-up ends at the base rate")
        XCTAssertEqual(schedule.learningRate(atStep: 4), 0.1, accuracy: 1e-15, "cosine starts at the base rate")
        XCTAssertEqual(schedule.learningRate(atStep: 12), (0.1 + 1e-4) / 2, accuracy: 1e-15, "half-way: the mean")
        for s in 4..<20 { XCTAssertLessThanOrEqual(schedule.learningRate(atStep: s + 1), schedule.learningRate(atStep: s)) }
    }

    func testScheduleOfAConfigCountsEpochsInSteps() {
        var config = TrainingConfig()
        config.learningRate = 0.1; config.epochs = 40; config.warmupEpochs = 2; config.finalLearningRateScale = 1e-3
        let schedule = LearningRateSchedule(config, stepsPerEpoch: 100)
        XCTAssertEqual(schedule.warmupSteps, 200)
        XCTAssertEqual(schedule.totalSteps, 4000)
        XCTAssertEqual(schedule.learningRate(atStep: 0), 0.1 / 200, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 3999), 1e-4, accuracy: 1e-7, "the last step: nearly final")
        XCTAssertEqual(schedule.learningRate(atStep: 4000), 1e-4, accuracy: 1e-18, "after it: final")
    }

    func testNoWarmup() {
        let schedule = LearningRateSchedule(baseLearningRate: 1, warmupSteps: 0, totalSteps: 2, finalScale: 0)
        XCTAssertEqual(schedule.learningRate(atStep: 0), 1)
        XCTAssertEqual(schedule.learningRate(atStep: 1), 0.5, accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 2), 0)
    }
}

final class AccumulationTests: XCTestCase {
    func testStepsCoverTheEpochOnceAndWeightsSumToOne() {
        for (images, batch, micro) in [(1000, 256, 32), (7, 3, 2), (256, 256, 256), (5, 8, 3), (1, 1, 1), (300, 64, 50)] {
            let plan = AccumulationPlan(imageCount: images, batchSize: batch, microBatchSize: micro)
            XCTAssertEqual(plan.stepsPerEpoch, (images + batch - 1) / batch)
            var covered: [Int] = []
            for step in 0..<plan.stepsPerEpoch {
                let micros = plan.microBatches(ofStep: step)
                XCTAssertEqual(micros.map(\.weight).reduce(0, +), 1, accuracy: 1e-12, "\(images)/\(batch)/\(micro) step \(step)")
                XCTAssertTrue(micros.allSatisfy { $0.positions.count <= micro && !$0.positions.isEmpty })
                covered += micros.flatMap { Array($0.positions) }
                XCTAssertEqual(plan.step(containingPosition: plan.images(ofStep: step).lowerBound), step)
            }
            XCTAssertEqual(covered, Array(0..<images), "\(images)/\(batch)/\(micro)")
        }
    }

    func testAccumulatedMeanGradientEqualsTheBigBatchMean() {
        // The gradient of a mean loss is the mean of per-image gradients: weighting each
        // micro-batch mean by its share gives the step's mean exactly (up to rounding).
        let perImage = (0..<10).map { Double($0 * $0) - 3.5 }
        let plan = AccumulationPlan(imageCount: 10, batchSize: 7, microBatchSize: 3)
        for step in 0..<plan.stepsPerEpoch {
            let images = plan.images(ofStep: step)
            let direct = images.map { perImage[$0] }.reduce(0, +) / Double(images.count)
            let accumulated = plan.microBatches(ofStep: step).map { micro in
                micro.weight * micro.positions.map { perImage[$0] }.reduce(0, +) / Double(micro.positions.count)
            }.reduce(0, +)
            XCTAssertEqual(accumulated, direct, accuracy: 1e-12, "step \(step)")
        }
    }
}
