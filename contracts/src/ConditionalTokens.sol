// SPDX-License-Identifier: Apache-2.0
// Copyright Arbytron contributors.
pragma solidity ^0.8.24;

import "./Interfaces.sol";

/// @title ConditionalTokens
/// @notice A minimal conditional-tokens contract with the Gnosis CTF's interface for
/// top-level positions: a condition with N outcome slots is prepared, collateral is split
/// into outcome tokens (ERC-1155, one id per index set) and merged back, the oracle reports
/// payouts once, and holders redeem.
///
/// Differences from the Gnosis CTF, on purpose, because nothing here needs them:
/// - Only top-level positions: `parentCollectionId` must be zero (no nested conditions).
/// - `getCollectionId(0, conditionId, indexSet)` is `keccak256(conditionId, indexSet)`, not the
///   alt_bn128 point encoding. Callers that look ids up through `getCollectionId` and
///   `getPositionId` (as the market maker and the Rust reader do) work with either contract.
/// Everything else (id derivation of conditions and positions, events, split/merge with any
/// partition of disjoint index sets, redemption arithmetic) follows the Gnosis behaviour.
contract ConditionalTokens {
    // ---- ERC-1155 ----------------------------------------------------------------------

    event TransferSingle(
        address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value
    );
    event TransferBatch(
        address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values
    );
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);

    mapping(uint256 => mapping(address => uint256)) private _balances;
    mapping(address => mapping(address => bool)) private _operatorApprovals;

    // ---- conditions -------------------------------------------------------------------

    event ConditionPreparation(
        bytes32 indexed conditionId, address indexed oracle, bytes32 indexed questionId, uint256 outcomeSlotCount
    );
    event ConditionResolution(
        bytes32 indexed conditionId,
        address indexed oracle,
        bytes32 indexed questionId,
        uint256 outcomeSlotCount,
        uint256[] payoutNumerators
    );
    event PositionSplit(
        address indexed stakeholder,
        IERC20 collateralToken,
        bytes32 indexed parentCollectionId,
        bytes32 indexed conditionId,
        uint256[] partition,
        uint256 amount
    );
    event PositionsMerge(
        address indexed stakeholder,
        IERC20 collateralToken,
        bytes32 indexed parentCollectionId,
        bytes32 indexed conditionId,
        uint256[] partition,
        uint256 amount
    );
    event PayoutRedemption(
        address indexed redeemer,
        IERC20 indexed collateralToken,
        bytes32 indexed parentCollectionId,
        bytes32 conditionId,
        uint256[] indexSets,
        uint256 payout
    );

    /// Payout numerators per condition; the array's length is the outcome slot count,
    /// so a prepared condition is one with a non-empty array.
    mapping(bytes32 => uint256[]) public payoutNumerators;
    /// Zero until the oracle reports; then the sum of the numerators.
    mapping(bytes32 => uint256) public payoutDenominator;

    bytes4 private constant ERC1155_RECEIVED = 0xf23a6e61;
    bytes4 private constant ERC1155_BATCH_RECEIVED = 0xbc197c81;

    function prepareCondition(address oracle, bytes32 questionId, uint256 outcomeSlotCount) external {
        require(outcomeSlotCount > 1, "there should be more than one outcome slot");
        require(outcomeSlotCount <= 256, "too many outcome slots");
        bytes32 conditionId = getConditionId(oracle, questionId, outcomeSlotCount);
        require(payoutNumerators[conditionId].length == 0, "condition already prepared");
        payoutNumerators[conditionId] = new uint256[](outcomeSlotCount);
        emit ConditionPreparation(conditionId, oracle, questionId, outcomeSlotCount);
    }

    /// The oracle (the caller) reports the payout vector for its question, once.
    function reportPayouts(bytes32 questionId, uint256[] calldata payouts) external {
        uint256 outcomeSlotCount = payouts.length;
        require(outcomeSlotCount > 1, "there should be more than one outcome slot");
        bytes32 conditionId = getConditionId(msg.sender, questionId, outcomeSlotCount);
        require(payoutNumerators[conditionId].length == outcomeSlotCount, "condition not prepared or found");
        require(payoutDenominator[conditionId] == 0, "payout denominator already set");
        uint256 den = 0;
        for (uint256 i = 0; i < outcomeSlotCount; i++) {
            den += payouts[i];
            payoutNumerators[conditionId][i] = payouts[i];
        }
        require(den > 0, "payout is all zeroes");
        payoutDenominator[conditionId] = den;
        emit ConditionResolution(conditionId, msg.sender, questionId, outcomeSlotCount, payouts);
    }

    function splitPosition(
        IERC20 collateralToken,
        bytes32 parentCollectionId,
        bytes32 conditionId,
        uint256[] calldata partition,
        uint256 amount
    ) external {
        uint256 fullIndexSet = _checkPartition(parentCollectionId, conditionId, partition);
        uint256 union = _unionOf(partition, fullIndexSet);
        if (union == fullIndexSet) {
            require(collateralToken.transferFrom(msg.sender, address(this), amount), "could not receive collateral");
        } else {
            _burn(msg.sender, _positionId(collateralToken, conditionId, union), amount);
        }
        uint256[] memory ids = new uint256[](partition.length);
        uint256[] memory amounts = new uint256[](partition.length);
        for (uint256 i = 0; i < partition.length; i++) {
            ids[i] = _positionId(collateralToken, conditionId, partition[i]);
            amounts[i] = amount;
        }
        _mintBatch(msg.sender, ids, amounts);
        emit PositionSplit(msg.sender, collateralToken, parentCollectionId, conditionId, partition, amount);
    }

    function mergePositions(
        IERC20 collateralToken,
        bytes32 parentCollectionId,
        bytes32 conditionId,
        uint256[] calldata partition,
        uint256 amount
    ) external {
        uint256 fullIndexSet = _checkPartition(parentCollectionId, conditionId, partition);
        uint256 union = _unionOf(partition, fullIndexSet);
        uint256[] memory ids = new uint256[](partition.length);
        uint256[] memory amounts = new uint256[](partition.length);
        for (uint256 i = 0; i < partition.length; i++) {
            ids[i] = _positionId(collateralToken, conditionId, partition[i]);
            amounts[i] = amount;
        }
        _burnBatch(msg.sender, ids, amounts);
        if (union == fullIndexSet) {
            require(collateralToken.transfer(msg.sender, amount), "could not send collateral");
        } else {
            _mint(msg.sender, _positionId(collateralToken, conditionId, union), amount);
        }
        emit PositionsMerge(msg.sender, collateralToken, parentCollectionId, conditionId, partition, amount);
    }

    /// Burn the caller's whole balance of each index set and pay out its share of the collateral.
    function redeemPositions(
        IERC20 collateralToken,
        bytes32 parentCollectionId,
        bytes32 conditionId,
        uint256[] calldata indexSets
    ) external {
        require(parentCollectionId == bytes32(0), "nested positions are not supported");
        uint256 den = payoutDenominator[conditionId];
        require(den > 0, "result for condition not received yet");
        uint256[] storage numerators = payoutNumerators[conditionId];
        uint256 outcomeSlotCount = numerators.length;
        uint256 fullIndexSet = _fullIndexSet(outcomeSlotCount);
        uint256 totalPayout = 0;
        for (uint256 i = 0; i < indexSets.length; i++) {
            uint256 indexSet = indexSets[i];
            require(indexSet > 0 && indexSet < fullIndexSet, "got invalid index set");
            uint256 numerator = 0;
            for (uint256 j = 0; j < outcomeSlotCount; j++) {
                if (indexSet & (uint256(1) << j) != 0) {
                    numerator += numerators[j];
                }
            }
            uint256 id = _positionId(collateralToken, conditionId, indexSet);
            uint256 stake = _balances[id][msg.sender];
            if (stake > 0) {
                totalPayout += (stake * numerator) / den;
                _burn(msg.sender, id, stake);
            }
        }
        if (totalPayout > 0) {
            require(collateralToken.transfer(msg.sender, totalPayout), "could not transfer payout to message sender");
        }
        emit PayoutRedemption(msg.sender, collateralToken, parentCollectionId, conditionId, indexSets, totalPayout);
    }

    // ---- ids ---------------------------------------------------------------------------

    function getOutcomeSlotCount(bytes32 conditionId) external view returns (uint256) {
        return payoutNumerators[conditionId].length;
    }

    function getConditionId(address oracle, bytes32 questionId, uint256 outcomeSlotCount)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encodePacked(oracle, questionId, outcomeSlotCount));
    }

    function getCollectionId(bytes32 parentCollectionId, bytes32 conditionId, uint256 indexSet)
        public
        pure
        returns (bytes32)
    {
        require(parentCollectionId == bytes32(0), "nested positions are not supported");
        return keccak256(abi.encodePacked(conditionId, indexSet));
    }

    function getPositionId(IERC20 collateralToken, bytes32 collectionId) public pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked(collateralToken, collectionId)));
    }

    // ---- ERC-1155 surface ---------------------------------------------------------------

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0xd9b67a26; // ERC-1155
    }

    function balanceOf(address owner, uint256 id) external view returns (uint256) {
        return _balances[id][owner];
    }

    function balanceOfBatch(address[] calldata owners, uint256[] calldata ids)
        external
        view
        returns (uint256[] memory balances)
    {
        require(owners.length == ids.length, "owners and ids length mismatch");
        balances = new uint256[](owners.length);
        for (uint256 i = 0; i < owners.length; i++) {
            balances[i] = _balances[ids[i]][owners[i]];
        }
    }

    function setApprovalForAll(address operator, bool approved) external {
        _operatorApprovals[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function isApprovedForAll(address owner, address operator) external view returns (bool) {
        return _operatorApprovals[owner][operator];
    }

    function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes calldata data) external {
        require(to != address(0), "transfer to the zero address");
        require(from == msg.sender || _operatorApprovals[from][msg.sender], "caller is not owner nor approved");
        _debit(from, id, value);
        _balances[id][to] += value;
        emit TransferSingle(msg.sender, from, to, id, value);
        if (to.code.length > 0) {
            require(
                IERC1155Receiver(to).onERC1155Received(msg.sender, from, id, value, data) == ERC1155_RECEIVED,
                "receiver rejected tokens"
            );
        }
    }

    function safeBatchTransferFrom(
        address from,
        address to,
        uint256[] calldata ids,
        uint256[] calldata values,
        bytes calldata data
    ) external {
        require(to != address(0), "transfer to the zero address");
        require(ids.length == values.length, "ids and values length mismatch");
        require(from == msg.sender || _operatorApprovals[from][msg.sender], "caller is not owner nor approved");
        for (uint256 i = 0; i < ids.length; i++) {
            _debit(from, ids[i], values[i]);
            _balances[ids[i]][to] += values[i];
        }
        emit TransferBatch(msg.sender, from, to, ids, values);
        if (to.code.length > 0) {
            require(
                IERC1155Receiver(to).onERC1155BatchReceived(msg.sender, from, ids, values, data)
                    == ERC1155_BATCH_RECEIVED,
                "receiver rejected tokens"
            );
        }
    }

    // ---- internals ---------------------------------------------------------------------

    /// Checks the condition exists and the partition is non-trivial, disjoint and in range;
    /// returns the condition's full index set.
    function _checkPartition(bytes32 parentCollectionId, bytes32 conditionId, uint256[] calldata partition)
        private
        view
        returns (uint256 fullIndexSet)
    {
        require(parentCollectionId == bytes32(0), "nested positions are not supported");
        require(partition.length > 1, "got empty or singleton partition");
        uint256 outcomeSlotCount = payoutNumerators[conditionId].length;
        require(outcomeSlotCount > 0, "condition not prepared yet");
        fullIndexSet = _fullIndexSet(outcomeSlotCount);
    }

    /// The union of `partition`'s index sets, which must each be non-empty, within the
    /// full set, and pairwise disjoint.
    function _unionOf(uint256[] calldata partition, uint256 fullIndexSet) private pure returns (uint256 union) {
        for (uint256 i = 0; i < partition.length; i++) {
            uint256 indexSet = partition[i];
            require(indexSet > 0 && indexSet & ~fullIndexSet == 0, "got invalid index set");
            require(union & indexSet == 0, "partition not disjoint");
            union |= indexSet;
        }
    }

    function _fullIndexSet(uint256 outcomeSlotCount) private pure returns (uint256) {
        // 256 slots: every bit set (1 << 256 would overflow).
        return outcomeSlotCount == 256 ? type(uint256).max : (uint256(1) << outcomeSlotCount) - 1;
    }

    function _positionId(IERC20 collateralToken, bytes32 conditionId, uint256 indexSet)
        private
        pure
        returns (uint256)
    {
        return getPositionId(collateralToken, getCollectionId(bytes32(0), conditionId, indexSet));
    }

    function _debit(address from, uint256 id, uint256 value) private {
        uint256 have = _balances[id][from];
        require(have >= value, "insufficient balance for transfer");
        unchecked {
            _balances[id][from] = have - value;
        }
    }

    function _mint(address to, uint256 id, uint256 value) private {
        _balances[id][to] += value;
        emit TransferSingle(msg.sender, address(0), to, id, value);
        _checkReceived(to, id, value);
    }

    function _mintBatch(address to, uint256[] memory ids, uint256[] memory values) private {
        for (uint256 i = 0; i < ids.length; i++) {
            _balances[ids[i]][to] += values[i];
        }
        emit TransferBatch(msg.sender, address(0), to, ids, values);
        if (to.code.length > 0) {
            require(
                IERC1155Receiver(to).onERC1155BatchReceived(msg.sender, address(0), ids, values, "")
                    == ERC1155_BATCH_RECEIVED,
                "receiver rejected tokens"
            );
        }
    }

    function _checkReceived(address to, uint256 id, uint256 value) private {
        if (to.code.length > 0) {
            require(
                IERC1155Receiver(to).onERC1155Received(msg.sender, address(0), id, value, "") == ERC1155_RECEIVED,
                "receiver rejected tokens"
            );
        }
    }

    function _burn(address from, uint256 id, uint256 value) private {
        _debit(from, id, value);
        emit TransferSingle(msg.sender, from, address(0), id, value);
    }

    function _burnBatch(address from, uint256[] memory ids, uint256[] memory values) private {
        for (uint256 i = 0; i < ids.length; i++) {
            _debit(from, ids[i], values[i]);
        }
        emit TransferBatch(msg.sender, from, address(0), ids, values);
    }
}
