import Foundation
import Testing
@testable import TNTModel

@Suite struct NPYTests {
    @Test func readsNumpyOutput() throws {
        // np.save of np.arange(6, dtype=float32).reshape(2, 3) / 7
        let array = try NPYArray(contentsOf: fixturesDirectory + "/numpy-2x3.npy")
        #expect(array.shape == [2, 3])
        #expect(array.values == (0..<6).map { Float($0) / 7 })
    }

    @Test func roundTrips() throws {
        for shape in [[5], [2, 3], [1, 3, 4, 4]] {
            let array = NPYArray(shape: shape, values: (0..<shape.reduce(1, *)).map { Float($0) * 0.5 })
            let data = array.data()
            #expect(data.count % 64 == (array.values.count * 4) % 64, "header padded to 64 bytes")
            #expect(try NPYArray(data: data) == array)
        }
    }

    @Test func rejectsOtherDTypesAndTruncation() throws {
        var data = NPYArray(shape: [2], values: [1, 2]).data()
        #expect(throws: NPYError.self) { try NPYArray(data: data.prefix(data.count - 1)) }
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "<f4", with: "<f8")
        data = Data(text.utf8)
        #expect(throws: NPYError.self) { try NPYArray(data: data) }
        #expect(throws: NPYError.self) { try NPYArray(data: Data("not numpy".utf8)) }
    }
}
